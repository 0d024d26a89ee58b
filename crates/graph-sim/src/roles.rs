//! `GET /v1.0/directoryRoles` (optionally `$expand=members`), `/directoryRoles/{id}`,
//! `/directoryRoles/{id}/members` and `/directoryRoles(roleTemplateId='…')/members`.

use http::StatusCode;
use serde_json::{Value, json};

use crate::data::ROLE_TEMPLATES;
use crate::graph::graph_error;
use crate::server::{Incoming2, Reply};
use crate::sim::SimState;
use crate::world::User;

fn user_json(u: &User) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": u.id,
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": u.given_name,
        "jobTitle": u.job_title,
        "mail": if u.break_glass { Value::Null } else { Value::String(u.user_principal_name.clone()) },
        "mobilePhone": null,
        "officeLocation": u.city_name,
        "preferredLanguage": "en-US",
        "surname": u.surname,
        "userPrincipalName": u.user_principal_name,
    })
}

/// Handles the directoryRoles family; `segments[0]` is `directoryRoles` or `directoryRoles(...)`.
pub fn handle(state: &SimState, req: &Incoming2, tenant: usize, segments: &[&str]) -> Reply {
    let store = &state.tenants[tenant];
    let host = req.host.clone().map(|h| format!("https://{h}")).unwrap_or_else(|| state.base_url.clone());
    let version = if req.path.to_ascii_lowercase().starts_with("/beta") { "beta" } else { "v1.0" };
    let expand = url::form_urlencoded::parse(req.raw_query.as_bytes())
        .any(|(k, v)| k.eq_ignore_ascii_case("$expand") && v.eq_ignore_ascii_case("members"));
    let members = store.state().role_members.clone();
    let role_json = |i: usize, with_members: bool| {
        let r = &store.tenant.roles[i];
        let mut v = json!({
            "id": r.id,
            "deletedDateTime": null,
            "description": ROLE_TEMPLATES[r.template].description,
            "displayName": r.display_name,
            "roleTemplateId": r.role_template_id,
        });
        if with_members {
            v["members"] =
                Value::Array(members[i].iter().filter_map(|u| store.tenant.users.get(*u)).map(user_json).collect());
        }
        v
    };
    let first = segments[0];
    let by_template = first
        .strip_prefix("directoryRoles(")
        .or_else(|| first.strip_prefix("directoryroles("))
        .and_then(|s| s.strip_suffix(')'))
        .map(|inner| inner.trim_start_matches("roleTemplateId=").trim_matches('\'').to_string());
    let not_found = |what: &str| {
        graph_error(
            state,
            req,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    };
    let (role_index, rest): (Option<usize>, &[&str]) = if let Some(template) = by_template {
        match store.tenant.roles.iter().position(|r| r.role_template_id.eq_ignore_ascii_case(&template)) {
            Some(i) => (Some(i), &segments[1..]),
            None => return not_found(&template),
        }
    } else if let Some(id) = segments.get(1) {
        match store.tenant.roles.iter().position(|r| r.id.eq_ignore_ascii_case(id)) {
            Some(i) => (Some(i), &segments[2..]),
            None => return not_found(id),
        }
    } else {
        (None, &[])
    };
    match (role_index, rest) {
        (None, []) => Reply::json(
            StatusCode::OK,
            &json!({
                "@odata.context": format!("{host}/{version}/$metadata#directoryRoles{}", if expand { "(members())" } else { "" }),
                "value": (0..store.tenant.roles.len()).map(|i| role_json(i, expand)).collect::<Vec<_>>(),
            }),
        ),
        (Some(i), []) => {
            let mut v = role_json(i, expand);
            v["@odata.context"] = Value::String(format!("{host}/{version}/$metadata#directoryRoles/$entity"));
            Reply::json(StatusCode::OK, &v)
        }
        (Some(i), [m]) if m.eq_ignore_ascii_case("members") => Reply::json(
            StatusCode::OK,
            &json!({
                "@odata.context": format!("{host}/{version}/$metadata#directoryObjects"),
                "value": members[i].iter().filter_map(|u| store.tenant.users.get(*u)).map(user_json).collect::<Vec<_>>(),
            }),
        ),
        (_, other) => graph_error(
            state,
            req,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{}'.", other.first().copied().unwrap_or("")),
        ),
    }
}
