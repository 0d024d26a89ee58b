//! Privileged accounts per tenant, from the collector's directory-role sync.
//!
//! The collector writes the members of the tenant's privileged directory roles into the KV bucket
//! `<ns>_directory_roles`, one key per tenant. The detector watches the bucket and hands each
//! tenant's accounts (UPNs and object ids) to its engine for `admin_sign_in`. A value it cannot
//! read is logged and ignored, keeping the last good list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use futures::StreamExt;
use m365mon_bus::topology::BucketOptions;
use m365mon_bus::{Bus, BusError};
use serde::Deserialize;
use tokio::sync::watch;

/// Tenant → privileged accounts (lowercase UPNs and object ids).
pub type Privileged = BTreeMap<String, BTreeSet<String>>;

/// The part of the collector's per-tenant document the detector reads (the collector's
/// `roles` module documents the whole of it): the flat member list, each with its object id and,
/// for users, the UPN. Other fields are ignored, so the collector may add to the document.
#[derive(Debug, Deserialize)]
struct RolesDocument {
    version: u32,
    members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
struct Member {
    id: String,
    #[serde(default)]
    user_principal_name: Option<String>,
}

/// Reads one KV value: the accounts it names (object ids and UPNs, lowercase), or why it
/// cannot be read.
pub fn parse_members(value: &[u8]) -> Result<BTreeSet<String>, String> {
    let document: RolesDocument =
        serde_json::from_slice(value).map_err(|e| format!("not a directory-roles document: {e}"))?;
    if document.version != 1 {
        return Err(format!(
            "directory-roles document version {} is not supported (this detector reads version 1)",
            document.version
        ));
    }
    let mut out = BTreeSet::new();
    for member in document.members {
        for account in std::iter::once(member.id.as_str()).chain(member.user_principal_name.as_deref()) {
            let account = account.trim().to_lowercase();
            if !account.is_empty() {
                out.insert(account);
            }
        }
    }
    Ok(out)
}

/// Watches the directory-roles bucket; the receiver always holds the current map.
pub async fn watch(bus: &Bus) -> Result<watch::Receiver<Arc<Privileged>>, BusError> {
    let (sender, receiver) = watch::channel(Arc::new(Privileged::new()));
    // Fail early (and clearly) if the bucket cannot be opened at all.
    open(bus).await?;
    let bus = bus.clone();
    tokio::spawn(async move {
        loop {
            if sender.is_closed() {
                return;
            }
            if let Err(e) = follow(&bus, &sender).await {
                tracing::warn!(error = %e, "directory roles watch interrupted; resuming");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(receiver)
}

async fn open(bus: &Bus) -> Result<async_nats::jetstream::kv::Store, BusError> {
    bus.ensure_bucket(
        &bus.namespace().directory_roles_bucket(),
        BucketOptions::new("m365-monitor: privileged directory-role members per tenant, synced from Graph"),
    )
    .await
}

async fn follow(bus: &Bus, sender: &watch::Sender<Arc<Privileged>>) -> Result<(), BusError> {
    let bucket = bus.namespace().directory_roles_bucket();
    let err = |e: &dyn std::fmt::Display| BusError::Kv { bucket: bucket.clone(), reason: e.to_string() };
    let store = open(bus).await?;
    let mut updates = store.watch_all_from_revision(1).await.map_err(|e| err(&e))?;
    loop {
        let next = tokio::select! {
            next = updates.next() => next,
            _ = sender.closed() => return Ok(()),
        };
        let Some(entry) = next else { return Ok(()) };
        let entry = entry.map_err(|e| err(&e))?;
        let tenant = entry.key.clone();
        match entry.operation {
            Operation::Put => match parse_members(&entry.value) {
                Ok(members) => {
                    if sender.borrow().get(&tenant) != Some(&members) {
                        tracing::info!(%tenant, accounts = members.len(), "privileged accounts changed");
                        sender.send_modify(|map| {
                            Arc::make_mut(map).insert(tenant, members);
                        });
                    }
                }
                Err(reason) => {
                    tracing::error!(%tenant, %reason, "ignoring unreadable directory-role members; keeping the last good list")
                }
            },
            Operation::Delete | Operation::Purge => {
                if sender.borrow().contains_key(&tenant) {
                    sender.send_modify(|map| {
                        Arc::make_mut(map).remove(&tenant);
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collectors_document_gives_ids_and_upns() {
        let document = br#"{ "version": 1, "tenant": "t", "synced_at": "2026-11-26T09:41:02Z",
          "roles": [ { "id": "role-1", "role_template_id": "62e90394-69f5-4237-9190-012177145e10",
                       "display_name": "Global Administrator", "member_ids": ["OID-1", "sp-1"] } ],
          "members": [ { "id": "OID-1", "type": "user", "user_principal_name": "Admin@Contoso.com",
                         "display_name": "Ada Admin", "roles": ["Global Administrator"], "role_template_ids": [] },
                       { "id": "sp-1", "type": "servicePrincipal", "user_principal_name": null,
                         "display_name": "App", "roles": [], "role_template_ids": [] } ] }"#;
        let accounts = parse_members(document).unwrap();
        let expected: BTreeSet<String> = ["oid-1", "admin@contoso.com", "sp-1"].iter().map(|s| s.to_string()).collect();
        assert_eq!(accounts, expected, "role ids are not accounts");
        assert!(parse_members(b"nope").unwrap_err().contains("not a directory-roles document"));
        assert!(parse_members(br#"{"version": 2, "members": []}"#).unwrap_err().contains("version 2"));
    }
}
