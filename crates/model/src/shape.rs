//! Recognising what one JSON object is, and lifting it to the Graph shape.
//!
//! Why in one pass: a scan must parse well over 150,000 records per second on one core, so an
//! object is read once, straight into typed fields, while its keys tell what it is:
//!
//! - a Graph `signIn` or `directoryAudit` (camelCase properties); which of the two is decided by
//!   which type's own properties are present (`activityDateTime`, `initiatedBy`, ... versus
//!   `createdDateTime`, `status`, `appId`, ...), per record, so mixed files work;
//! - an Azure diagnostic-settings / Event Hub record: an envelope (`time`, `category`,
//!   `tenantId`, `resultType`, `callerIpAddress`, ... in any key case) around a `properties`
//!   object in Graph-beta shape. The envelope's `category` says the kind and the sign-in event
//!   type; the envelope itself is kept beside the record;
//! - a Log Analytics row (`SigninLogs`, `AADNonInteractiveUserSignInLogs`, ..., `AuditLogs`):
//!   PascalCase columns, nested values possibly as JSON text. Recognised at its first PascalCase
//!   column, read as plain JSON and mapped column by column (see [`log_analytics`]).
//!
//! A `{"value": [...]}` or `{"records": [...]}` collection is not a record; the streaming reader
//! asks for such objects to be reported (the container marker) so it can stream their elements.

use std::mem;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::audit::{DirectoryAudit, DirectoryAuditField};
use crate::record::{Record, RecordKind, SignInEventType};
use crate::signin::{SignIn, SignInField, SignInStatus};

pub(crate) mod log_analytics;

/// The error text a top-level object yields when it is a collection (`value`/`records` key) and
/// the caller asked for collections to be reported rather than read as a record.
pub(crate) const CONTAINER_MARKER: &str = "\u{1}m365mon:collection";

/// The shape a record had in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordShape {
    /// A Microsoft Graph `signIn` / `directoryAudit` object.
    Graph,
    /// An Azure diagnostic-settings / Event Hub record (`properties` inside an envelope).
    EventHub,
    /// A Log Analytics / Sentinel table row (`SigninLogs`, `AuditLogs`, ...).
    LogAnalytics,
}

impl RecordShape {
    /// A short lowercase name: `graph`, `event-hub`, `log-analytics`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordShape::Graph => "graph",
            RecordShape::EventHub => "event-hub",
            RecordShape::LogAnalytics => "log-analytics",
        }
    }
}

/// A record in the Graph shape, with what its source said around it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRecord {
    /// The record, normalised to the Graph shape.
    pub record: Record,
    /// The shape it had in the source.
    pub shape: RecordShape,
    /// For sign-ins: interactive, non-interactive, service principal or managed identity, from
    /// the Event Hub category or Log Analytics table, else from the record itself
    /// ([`SignIn::event_type`]). `None` for audits and when nothing tells.
    pub event_type: Option<SignInEventType>,
    /// The Entra tenant the source names (Event Hub `tenantId`, Log Analytics `AADTenantId`, or the
    /// `/tenants/<id>/` of the resource id). Graph records do not carry it: `None`.
    pub tenant_id: Option<String>,
    /// Event Hub and Log Analytics only: every field of the source that is not part of the Graph
    /// record, verbatim (Event Hub envelope keys with their casing normalised, e.g.
    /// `calleripaddress` → `callerIpAddress`).
    pub envelope: Option<Box<Map<String, Value>>>,
}

/// Which key-level recognitions a visitor performs.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// Recognise an Event Hub envelope (`properties`).
    envelope: bool,
    /// Report collections with [`CONTAINER_MARKER`].
    container: bool,
    /// Switch to Log Analytics mode at a PascalCase column.
    log_analytics: bool,
}

const TOP_LEVEL: Options = Options { envelope: true, container: false, log_analytics: true };
const STREAM_TOP_LEVEL: Options = Options { envelope: true, container: true, log_analytics: true };
const GRAPH_ONLY: Options = Options { envelope: false, container: false, log_analytics: false };

/// Parses one JSON object (Graph, Event Hub or Log Analytics) into a [`ParsedRecord`].
#[derive(Debug)]
pub(crate) struct TopLevel<const STREAM: bool>(pub(crate) ParsedRecord);

impl<'de, const STREAM: bool> Deserialize<'de> for TopLevel<STREAM> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let options = if STREAM { STREAM_TOP_LEVEL } else { TOP_LEVEL };
        let collected = deserializer.deserialize_any(CollectVisitor { options })?;
        finish(collected).map(TopLevel).map_err(de::Error::custom)
    }
}

/// Properties read so far, for both kinds: the kind is only known at the end of the object.
#[derive(Default)]
pub(crate) struct Accumulator {
    /// Boxed from the start, so the record is never copied on its way out.
    signin: Box<SignIn>,
    /// Allocated at the first audit property.
    audit: Option<Box<DirectoryAudit>>,
    /// Properties only a sign-in has (`id`, `correlationId`, `userAgent` are shared).
    signin_marks: u32,
    /// Properties only an audit has.
    audit_marks: u32,
}

impl Accumulator {
    fn is_empty(&self) -> bool {
        self.signin_marks == 0 && self.audit_marks == 0
    }

    /// The kind the properties point to; `None` when none of either kind's own properties is there.
    fn decide(&self) -> Option<RecordKind> {
        use std::cmp::Ordering;
        match self.audit_marks.cmp(&self.signin_marks) {
            Ordering::Greater => Some(RecordKind::Audit),
            Ordering::Less => Some(RecordKind::Signin),
            Ordering::Equal if self.audit_marks == 0 => None,
            Ordering::Equal => {
                let strong_audit = self.audit.as_ref().is_some_and(|a| {
                    a.activity_display_name.is_some() || a.activity_date_time.is_some() || a.initiated_by.is_some()
                });
                Some(if strong_audit { RecordKind::Audit } else { RecordKind::Signin })
            }
        }
    }

    /// Builds the record of `kind`; properties of the other kind are kept in `extra`.
    fn assemble(self, kind: RecordKind) -> Record {
        let Accumulator { mut signin, audit, signin_marks, audit_marks } = self;
        match kind {
            RecordKind::Signin => {
                if let Some(audit) = audit.filter(|_| audit_marks > 0) {
                    merge_into(&mut signin.extra, to_map(&audit));
                }
                Record::SignIn(signin)
            }
            RecordKind::Audit => {
                let mut audit = audit.unwrap_or_default();
                audit.id = mem::take(&mut signin.id);
                audit.correlation_id = signin.correlation_id.take();
                audit.user_agent = signin.user_agent.take();
                if signin_marks > 0 {
                    merge_into(&mut audit.extra, to_map(&signin));
                } else {
                    merge_into(&mut audit.extra, mem::take(&mut signin.extra));
                }
                Record::Audit(audit)
            }
        }
    }

    /// Everything read, as JSON (typed properties written in Graph's shape).
    fn into_map(self) -> Map<String, Value> {
        let mut map = to_map(&self.signin);
        if let Some(audit) = &self.audit {
            merge_into(&mut map, to_map(audit));
        }
        map
    }

    fn read_signin<'de, A: MapAccess<'de>>(&mut self, field: SignInField, map: &mut A) -> Result<(), A::Error> {
        if !matches!(field, SignInField::id | SignInField::correlation_id | SignInField::user_agent) {
            self.signin_marks += 1;
        }
        self.signin.read_field(field, map)
    }

    fn read_audit<'de, A: MapAccess<'de>>(&mut self, field: DirectoryAuditField, map: &mut A) -> Result<(), A::Error> {
        self.audit_marks += 1;
        self.audit.get_or_insert_with(Box::default).read_field(field, map)
    }
}

fn to_map<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn merge_into(target: &mut Map<String, Value>, source: Map<String, Value>) {
    for (key, value) in source {
        target.entry(key).or_insert(value);
    }
}

/// What one object held, before deciding what it is.
pub(crate) struct Collected {
    accumulator: Accumulator,
    /// The Event Hub `properties` object (or, when it was not an object, its verbatim value).
    properties: Option<Result<Accumulator, Value>>,
    /// PascalCase Log Analytics columns, verbatim: whether they make a Log Analytics row is
    /// decided at the end of the object.
    columns: Map<String, Value>,
}

/// A top-level key, classified.
enum TopKey {
    SignIn(SignInField),
    Audit(DirectoryAuditField),
    Properties,
    Collection,
    /// A PascalCase Log Analytics column (kept aside until the end of the object).
    Column(String),
    Other(String),
}

struct TopKeySeed {
    options: Options,
}

impl TopKeySeed {
    fn classify(&self, key: &str) -> Option<TopKey> {
        if let Some(field) = SignInField::exact(key) {
            return Some(TopKey::SignIn(field));
        }
        if let Some(field) = DirectoryAuditField::exact(key) {
            return Some(TopKey::Audit(field));
        }
        if self.options.log_analytics && log_analytics::is_column(key) {
            return Some(TopKey::Column(String::new()));
        }
        if self.options.envelope && key.eq_ignore_ascii_case("properties") {
            return Some(TopKey::Properties);
        }
        if self.options.container && (key.eq_ignore_ascii_case("value") || key.eq_ignore_ascii_case("records")) {
            return Some(TopKey::Collection);
        }
        if let Some(field) = SignInField::ignoring_case(key) {
            return Some(TopKey::SignIn(field));
        }
        if let Some(field) = DirectoryAuditField::ignoring_case(key) {
            return Some(TopKey::Audit(field));
        }
        None
    }
}

impl<'de> DeserializeSeed<'de> for TopKeySeed {
    type Value = TopKey;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<TopKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for TopKeySeed {
    type Value = TopKey;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a property name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<TopKey, E> {
        Ok(match self.classify(key) {
            Some(TopKey::Column(_)) => TopKey::Column(key.to_owned()),
            Some(classified) => classified,
            None => TopKey::Other(key.to_owned()),
        })
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<TopKey, E> {
        Ok(match self.classify(&key) {
            Some(TopKey::Column(_)) => TopKey::Column(key),
            Some(classified) => classified,
            None => TopKey::Other(key),
        })
    }
}

/// Reads one object into a [`Collected`].
struct CollectVisitor {
    options: Options,
}

impl<'de> Visitor<'de> for CollectVisitor {
    type Value = Collected;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON object (a sign-in or directory audit record)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Collected, A::Error> {
        let mut collected = Collected { accumulator: Accumulator::default(), properties: None, columns: Map::new() };
        while let Some(key) = map.next_key_seed(TopKeySeed { options: self.options })? {
            match key {
                TopKey::SignIn(field) => collected.accumulator.read_signin(field, &mut map)?,
                TopKey::Audit(field) => collected.accumulator.read_audit(field, &mut map)?,
                TopKey::Properties => {
                    collected.properties = Some(map.next_value_seed(PropertiesSeed)?);
                }
                TopKey::Collection => return Err(de::Error::custom(CONTAINER_MARKER)),
                TopKey::Column(name) => {
                    let value: Value = map.next_value()?;
                    collected.columns.insert(name, value);
                }
                TopKey::Other(name) => {
                    let value: Value = map.next_value()?;
                    collected.accumulator.signin.extra.insert(name, value);
                }
            }
        }
        Ok(collected)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Collected, E> {
        Err(not_an_object("a string"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Collected, E> {
        Err(not_an_object("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Collected, E> {
        Err(not_an_object("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Collected, E> {
        Err(not_an_object("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Collected, E> {
        Err(not_an_object("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Collected, E> {
        Err(not_an_object("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Collected, A::Error> {
        Err(not_an_object("an array"))
    }
}

fn not_an_object<E: de::Error>(found: &str) -> E {
    E::custom(format_args!("expected a JSON object (a sign-in or directory audit record), found {found}"))
}

/// Reads the Event Hub `properties` value: an object (or JSON text of one) in Graph shape.
struct PropertiesSeed;

impl<'de> DeserializeSeed<'de> for PropertiesSeed {
    type Value = Result<Accumulator, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let value = crate::graph_value::ReadSeed::<PropertiesObject>::new().deserialize(deserializer)?;
        Ok(match value {
            crate::graph_value::Read::Typed(PropertiesObject(accumulator)) => Ok(accumulator),
            crate::graph_value::Read::Verbatim(Value::String(text)) => {
                // Some exporters write `properties` as JSON text.
                let mut json = serde_json::Deserializer::from_str(&text);
                match json.deserialize_any(CollectVisitor { options: GRAPH_ONLY }) {
                    Ok(collected) if json.end().is_ok() => Ok(collected.accumulator),
                    _ => Err(Value::String(text)),
                }
            }
            crate::graph_value::Read::Verbatim(other) => Err(other),
        })
    }
}

struct PropertiesObject(Accumulator);

impl crate::graph_value::GraphValue for PropertiesObject {
    fn from_map<'de, A: MapAccess<'de>>(map: A) -> Result<crate::graph_value::Read<Self>, A::Error> {
        let collected = CollectVisitor { options: GRAPH_ONLY }.visit_map(map)?;
        Ok(crate::graph_value::Read::Typed(PropertiesObject(collected.accumulator)))
    }

    fn write<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

/// Reads a Graph-shaped JSON object (already split off a Log Analytics row) into an accumulator.
pub(crate) fn accumulate_graph(object: Map<String, Value>) -> Result<Accumulator, serde_json::Error> {
    let collected = Value::Object(object).deserialize_any(CollectVisitor { options: GRAPH_ONLY })?;
    Ok(collected.accumulator)
}

/// Whether PascalCase columns make a Log Analytics row: a `Type` naming a table, a
/// `TimeGenerated`, or several columns. One stray PascalCase key in a Graph record does not.
fn is_log_analytics_row(columns: &Map<String, Value>) -> bool {
    let names_table = columns.get("Type").and_then(Value::as_str).is_some_and(log_analytics::is_table);
    names_table || columns.get("TimeGenerated").is_some_and(Value::is_string) || columns.len() >= 3
}

/// Decides what the object was and builds the record.
fn finish(collected: Collected) -> Result<ParsedRecord, String> {
    let Collected { mut accumulator, properties, columns } = collected;
    if !columns.is_empty() {
        let mut object = accumulator.into_map();
        if is_log_analytics_row(&columns) {
            if let Some(properties) = properties {
                object.insert(
                    "properties".to_owned(),
                    properties.map_or_else(|v| v, |inner| Value::Object(inner.into_map())),
                );
            }
            let explicit_table = columns.get("Type").and_then(Value::as_str).is_some_and(log_analytics::is_table);
            object.extend(columns);
            return log_analytics::convert(object.clone()).or_else(|la_error| {
                if explicit_table {
                    return Err(la_error);
                }
                // Log Analytics-like columns around something that is not a row: read it as Graph.
                accumulate_graph(object).ok().and_then(|accumulator| graph_record(accumulator).ok()).ok_or(la_error)
            });
        }
        // Not a Log Analytics row: the columns are ordinary (case-variant or unknown) properties.
        object.extend(columns);
        accumulator = accumulate_graph(object).map_err(|e| e.to_string())?;
    }
    match properties {
        Some(Ok(inner)) if accumulator.is_empty() || has_envelope_keys(&accumulator) => {
            lift_envelope(accumulator.into_map(), inner)
        }
        Some(Ok(inner)) => {
            // A Graph record that happens to have a `properties` property.
            accumulator.signin.extra.insert("properties".to_owned(), Value::Object(inner.into_map()));
            graph_record(accumulator)
        }
        Some(Err(verbatim)) => {
            let bare_envelope = is_bare_envelope(&accumulator);
            accumulator.signin.extra.insert("properties".to_owned(), verbatim);
            if bare_envelope {
                lift_envelope(accumulator.into_map(), Accumulator::default())
            } else {
                graph_record(accumulator)
            }
        }
        None if is_bare_envelope(&accumulator) => lift_envelope(accumulator.into_map(), Accumulator::default()),
        None => graph_record(accumulator),
    }
}

fn graph_record(accumulator: Accumulator) -> Result<ParsedRecord, String> {
    let Some(kind) = accumulator.decide() else {
        return Err(unrecognised(&accumulator));
    };
    let record = accumulator.assemble(kind);
    let event_type = match &record {
        Record::SignIn(signin) => signin.event_type(),
        Record::Audit(_) => None,
    };
    Ok(ParsedRecord { record, shape: RecordShape::Graph, event_type, tenant_id: None, envelope: None })
}

fn unrecognised(accumulator: &Accumulator) -> String {
    let extra = &accumulator.signin.extra;
    let has_collection =
        ["value", "records"].iter().any(|key| extra.iter().any(|(k, v)| k.eq_ignore_ascii_case(key) && v.is_array()));
    if has_collection {
        return "this is a collection of records (`value`/`records` array), not a single record".to_owned();
    }
    if extra.keys().any(|k| k == "tables") {
        return "this looks like a Log Analytics query API response (`tables`); export the rows as JSON or CSV"
            .to_owned();
    }
    let mut keys: Vec<&str> = extra.keys().map(String::as_str).take(6).collect();
    if extra.len() > keys.len() {
        keys.push("...");
    }
    if keys.is_empty() {
        "not a sign-in or directory audit: the object has no properties of either".to_owned()
    } else {
        format!("not a sign-in or directory audit: none of their properties is present (found: {})", keys.join(", "))
    }
}

/// Event Hub envelope key spellings (Azure Monitor resource-log schema); other cases are renamed
/// to these.
const ENVELOPE_KEYS: &[&str] = &[
    "time",
    "resourceId",
    "operationName",
    "operationVersion",
    "category",
    "tenantId",
    "resultType",
    "resultSignature",
    "resultDescription",
    "durationMs",
    "callerIpAddress",
    "correlationId",
    "identity",
    "level",
    "location",
    "properties",
];

/// Entra diagnostic categories whose records are neither sign-ins nor directory audits.
const OTHER_CATEGORIES: &[&str] = &[
    "ProvisioningLogs",
    "RiskyUsers",
    "UserRiskEvents",
    "RiskyServicePrincipals",
    "ServicePrincipalRiskEvents",
    "MicrosoftGraphActivityLogs",
    "NetworkAccessTrafficLogs",
    "EnrichedOffice365AuditLogs",
    "RemoteNetworkHealthLogs",
    "NetworkAccessAlerts",
    "B2CRequestLogs",
];

/// The record kind and sign-in event type an Entra diagnostic category (or Log Analytics table)
/// stands for.
pub(crate) fn category_kind(category: &str) -> Option<(RecordKind, Option<SignInEventType>)> {
    let kind = |k, t| Some((k, t));
    match category.trim().to_ascii_lowercase().as_str() {
        "signinlogs" => kind(RecordKind::Signin, Some(SignInEventType::InteractiveUser)),
        "noninteractiveusersigninlogs" | "aadnoninteractiveusersigninlogs" => {
            kind(RecordKind::Signin, Some(SignInEventType::NonInteractiveUser))
        }
        "serviceprincipalsigninlogs"
        | "microsoftserviceprincipalsigninlogs"
        | "aadserviceprincipalsigninlogs"
        | "aadmicrosoftserviceprincipalsigninlogs" => kind(RecordKind::Signin, Some(SignInEventType::ServicePrincipal)),
        "managedidentitysigninlogs" | "aadmanagedidentitysigninlogs" => {
            kind(RecordKind::Signin, Some(SignInEventType::ManagedIdentity))
        }
        "adfssigninlogs" => kind(RecordKind::Signin, None),
        "auditlogs" => kind(RecordKind::Audit, None),
        _ => None,
    }
}

fn is_other_category(category: &str) -> bool {
    OTHER_CATEGORIES.iter().any(|c| c.eq_ignore_ascii_case(category.trim()))
}

/// Envelope keys that no Graph record has.
const ENVELOPE_ONLY_KEYS: &[&str] = &[
    "time",
    "operationName",
    "operationVersion",
    "tenantId",
    "resultType",
    "resultSignature",
    "resultDescription",
    "durationMs",
    "callerIpAddress",
    "identity",
    "level",
];

fn has_envelope_keys(accumulator: &Accumulator) -> bool {
    accumulator.signin.extra.keys().any(|key| ENVELOPE_ONLY_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key)))
}

/// `{"time": ..., "category": "SignInLogs"}` without `properties`: an envelope with nothing inside.
fn is_bare_envelope(accumulator: &Accumulator) -> bool {
    let Some(category) = accumulator.audit.as_ref().and_then(|a| a.category.as_deref()) else { return false };
    (category_kind(category).is_some() || is_other_category(category))
        && accumulator.signin.extra.keys().any(|k| k.eq_ignore_ascii_case("time"))
}

fn canonical_envelope(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(key, value)| match ENVELOPE_KEYS.iter().find(|k| k.eq_ignore_ascii_case(&key)) {
            Some(canonical) if *canonical != key => ((*canonical).to_owned(), value),
            _ => (key, value),
        })
        .collect()
}

fn lift_envelope(envelope: Map<String, Value>, inner: Accumulator) -> Result<ParsedRecord, String> {
    let envelope = canonical_envelope(envelope);
    let text = |key: &str| envelope.get(key).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    let category = text("category");
    let (kind, category_event_type) = match category.and_then(category_kind) {
        Some(found) => found,
        None => {
            if let Some(category) = category.filter(|c| is_other_category(c)) {
                return Err(format!(
                    "an Event Hub record of category {category}, which is neither a sign-in nor an audit"
                ));
            }
            match inner.decide() {
                Some(kind) => (kind, None),
                None if inner.is_empty() => {
                    return Err(format!(
                        "an Event Hub record{} whose `properties` has no sign-in or audit properties",
                        category.map(|c| format!(" of category {c}")).unwrap_or_default()
                    ));
                }
                None => return Err(unrecognised(&inner)),
            }
        }
    };
    let mut record = inner.assemble(kind);
    let mut event_type = None;
    match &mut record {
        Record::SignIn(signin) => {
            lift_signin(signin, &envelope, category_event_type);
            event_type = category_event_type.or_else(|| signin.event_type());
        }
        Record::Audit(audit) => {
            if audit.activity_date_time.is_none() && !audit.extra.contains_key("activityDateTime") {
                audit.activity_date_time = text("time").and_then(crate::time::parse_timestamp);
            }
            if audit.activity_display_name.is_none() && !audit.extra.contains_key("activityDisplayName") {
                audit.activity_display_name = text("operationName").map(str::to_owned);
            }
        }
    }
    let tenant_id = text("tenantId").map(str::to_owned).or_else(|| text("resourceId").and_then(tenant_of_resource_id));
    Ok(ParsedRecord { record, shape: RecordShape::EventHub, event_type, tenant_id, envelope: Some(Box::new(envelope)) })
}

/// Fills what the Graph record lacks from the envelope (documented normalisations).
fn lift_signin(signin: &mut SignIn, envelope: &Map<String, Value>, event_type: Option<SignInEventType>) {
    let text = |key: &str| envelope.get(key).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    if signin.created_date_time.is_none() && !signin.extra.contains_key("createdDateTime") {
        signin.created_date_time = text("time").and_then(crate::time::parse_timestamp);
    }
    if signin.sign_in_event_types.is_none()
        && !signin.extra.contains_key("signInEventTypes")
        && let Some(event_type) = event_type
    {
        signin.sign_in_event_types = Some(vec![event_type.as_graph_value().to_owned()]);
    }
    if signin.ip_address.is_none()
        && !signin.extra.contains_key("ipAddress")
        && let Some(ip) = text("callerIpAddress")
    {
        signin.ip_address = Some(ip.to_owned());
    }
    let result_type = envelope.get("resultType").and_then(|v| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    if let Some(code) = result_type {
        fill_status(signin, code, text("resultDescription"));
    }
}

/// Sets `status.errorCode` (and, for failures, `failureReason`) when the record has none.
pub(crate) fn fill_status(signin: &mut SignIn, code: i64, description: Option<&str>) {
    if signin.extra.contains_key("status") {
        return;
    }
    let status = signin.status.get_or_insert_with(SignInStatus::default);
    if status.error_code.is_none() && !status.extra.contains_key("errorCode") {
        status.error_code = Some(code);
        if code != 0
            && status.failure_reason.is_none()
            && !status.extra.contains_key("failureReason")
            && let Some(description) = description
        {
            status.failure_reason = Some(description.to_owned());
        }
    }
}

/// `<tid>` of `/tenants/<tid>/providers/...`.
pub(crate) fn tenant_of_resource_id(resource_id: &str) -> Option<String> {
    let rest = resource_id.trim().strip_prefix('/')?;
    let mut parts = rest.split('/');
    let first = parts.next()?;
    let tenant = parts.next()?;
    (first.eq_ignore_ascii_case("tenants") && !tenant.is_empty()).then(|| tenant.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<ParsedRecord, String> {
        serde_json::from_str::<TopLevel<false>>(json).map(|t| t.0).map_err(|e| e.to_string())
    }

    #[test]
    fn tenant_from_resource_id() {
        assert_eq!(tenant_of_resource_id("/tenants/abc/providers/Microsoft.aadiam").as_deref(), Some("abc"));
        assert_eq!(tenant_of_resource_id("/subscriptions/abc"), None);
        assert_eq!(tenant_of_resource_id(""), None);
    }

    #[test]
    fn kind_is_decided_per_record() {
        let signin = parse(r#"{"id":"1","createdDateTime":"2024-01-01T00:00:00Z","userPrincipalName":"a@b"}"#).unwrap();
        assert_eq!(signin.record.kind(), RecordKind::Signin);
        let audit =
            parse(r#"{"id":"2","activityDateTime":"2024-01-01T00:00:00Z","activityDisplayName":"Add user"}"#).unwrap();
        assert_eq!(audit.record.kind(), RecordKind::Audit);
        assert_eq!(audit.record.id(), "2");
    }

    #[test]
    fn objects_that_are_not_records_are_refused_with_a_reason() {
        let error = parse(r#"{"foo": 1}"#).unwrap_err();
        assert!(error.contains("not a sign-in or directory audit") && error.contains("foo"), "{error}");
        let error = parse(r#"{"value": [{"id": "x"}]}"#).unwrap_err();
        assert!(error.contains("collection"), "{error}");
        let error = parse(r#"{"tables": []}"#).unwrap_err();
        assert!(error.contains("Log Analytics query API"), "{error}");
        let error = parse(r#"["a"]"#).unwrap_err();
        assert!(error.contains("found an array"), "{error}");
    }

    #[test]
    fn stream_mode_reports_collections() {
        let error = serde_json::from_str::<TopLevel<true>>(r#"{"@odata.context":"x","value":[]}"#).unwrap_err();
        assert!(error.to_string().starts_with(CONTAINER_MARKER));
    }

    #[test]
    fn envelope_category_decides_kind_and_event_type() {
        let parsed = parse(
            r#"{"time":"2024-01-01T10:00:00Z","category":"NonInteractiveUserSignInLogs","tenantId":"t1",
                "resultType":"50126","resultDescription":"Invalid password","callerIpAddress":"1.2.3.4",
                "properties":{"id":"s1","userPrincipalName":"a@b"}}"#,
        )
        .unwrap();
        assert_eq!(parsed.shape, RecordShape::EventHub);
        assert_eq!(parsed.event_type, Some(SignInEventType::NonInteractiveUser));
        assert_eq!(parsed.tenant_id.as_deref(), Some("t1"));
        let Record::SignIn(signin) = &parsed.record else { panic!("not a sign-in") };
        assert_eq!(signin.error_code(), Some(50126));
        assert_eq!(signin.status.as_ref().unwrap().failure_reason.as_deref(), Some("Invalid password"));
        assert_eq!(signin.ip_address.as_deref(), Some("1.2.3.4"));
        assert_eq!(signin.sign_in_event_types.as_deref(), Some(&["nonInteractiveUser".to_owned()][..]));
        assert_eq!(parsed.record.event_time(), crate::time::parse_timestamp("2024-01-01T10:00:00Z"));
        let envelope = parsed.envelope.unwrap();
        assert_eq!(envelope.get("callerIpAddress").and_then(Value::as_str), Some("1.2.3.4"));
        assert!(!envelope.contains_key("properties"));
    }

    #[test]
    fn lowercase_envelope_keys_are_normalised() {
        let parsed = parse(
            r#"{"calleripaddress":"9.9.9.9","category":"SignInLogs","correlationid":"c","resulttype":7000215,
                "tenantid":"t2","time":"2023-07-26 23:00:20.889","properties":{"id":"x","appId":"a"}}"#,
        )
        .unwrap();
        let envelope = parsed.envelope.as_ref().unwrap();
        for key in ["callerIpAddress", "correlationId", "resultType", "tenantId", "time", "category"] {
            assert!(envelope.contains_key(key), "{key} missing from {envelope:?}");
        }
        assert_eq!(parsed.tenant_id.as_deref(), Some("t2"));
        let Record::SignIn(signin) = &parsed.record else { panic!("not a sign-in") };
        assert_eq!(signin.error_code(), Some(7000215));
    }

    #[test]
    fn properties_as_json_text() {
        let parsed = parse(r#"{"category":"AuditLogs","time":"2024-01-01T00:00:00Z","properties":"{\"id\":\"a1\",\"activityDisplayName\":\"Add user\"}"}"#).unwrap();
        assert_eq!(parsed.record.kind(), RecordKind::Audit);
        assert_eq!(parsed.record.id(), "a1");
    }
}
