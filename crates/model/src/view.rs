//! A lean, borrowed view of a sign-in: the properties detection reads, straight from the JSON text.
//!
//! Why: reading a sign-in into the lossless [`SignIn`] allocates about fifty strings and fills a
//! 2.5 KB struct, most of which a detection rule never looks at. A scan of exported logs reads
//! hundreds of thousands of records to evaluate them once: [`SignInView`] holds only the two dozen
//! properties the rules read, borrowed from the input text (a string is copied only when it has
//! escapes), and everything else is stepped over without being kept.
//!
//! The lean reading is a fast path, never a second interpretation of Microsoft's data. It accepts
//! only plain Graph sign-ins: a JSON object whose keys are Graph's own spellings, with values of
//! the documented types (or `null`). Anything the full model would treat specially — a key that
//! matches only ignoring case, a directory-audit property, an Event Hub envelope, Log Analytics
//! columns, a `value`/`records` collection, a number sent as text, an odd value, a timestamp the
//! model cannot read (timestamps go through the model's own parser) — makes it decline, and the caller reads the record in full. So a view, when
//! there is one, is exactly [`SignInView::of`] the record the full model reads (the model's tests
//! hold it to that over every dataset file, our fixtures and arbitrary JSON).

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::SignIn;
use crate::audit::DirectoryAuditField;
use crate::signin::{GeoCoordinatesField, SignInField, SignInLocationField, SignInStatusField};

/// The properties of a sign-in that detection reads. Text is borrowed from the record where it
/// can be; `None` is an absent, `null` or (for [`SignInView::of`]) unreadable property.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignInView<'a> {
    /// `id`; empty when the record has none.
    pub id: Cow<'a, str>,
    pub created_date_time: Option<DateTime<Utc>>,
    pub user_principal_name: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    pub app_display_name: Option<Cow<'a, str>>,
    pub ip_address: Option<Cow<'a, str>>,
    pub client_app_used: Option<Cow<'a, str>>,
    pub is_interactive: Option<bool>,
    pub user_agent: Option<Cow<'a, str>>,
    pub correlation_id: Option<Cow<'a, str>>,
    /// `status.errorCode`.
    pub error_code: Option<i64>,
    /// `status.failureReason`.
    pub failure_reason: Option<Cow<'a, str>>,
    /// `status.additionalDetails`.
    pub additional_details: Option<Cow<'a, str>>,
    /// `location.city`.
    pub city: Option<Cow<'a, str>>,
    /// `location.state`.
    pub state: Option<Cow<'a, str>>,
    /// `location.countryOrRegion`.
    pub country_or_region: Option<Cow<'a, str>>,
    /// `location.geoCoordinates.latitude`.
    pub latitude: Option<f64>,
    /// `location.geoCoordinates.longitude`.
    pub longitude: Option<f64>,
    pub risk_level_during_sign_in: Option<Cow<'a, str>>,
    pub risk_level_aggregated: Option<Cow<'a, str>>,
    pub risk_state: Option<Cow<'a, str>>,
    pub risk_detail: Option<Cow<'a, str>>,
    pub risk_event_types: Option<Vec<Cow<'a, str>>>,
    pub risk_event_types_v2: Option<Vec<Cow<'a, str>>>,
    pub authentication_requirement: Option<Cow<'a, str>>,
    pub sign_in_event_types: Option<Vec<Cow<'a, str>>>,
    pub service_principal_id: Option<Cow<'a, str>>,
    pub service_principal_name: Option<Cow<'a, str>>,
    pub resource_tenant_id: Option<Cow<'a, str>>,
    pub home_tenant_id: Option<Cow<'a, str>>,
    /// The Azure diagnostic category the model keeps in `extra` (Event Hub and Log Analytics
    /// sign-ins); always `None` for a lean reading, which declines such records.
    pub category: Option<Cow<'a, str>>,
}

fn borrowed(text: &Option<String>) -> Option<Cow<'_, str>> {
    text.as_deref().map(Cow::Borrowed)
}

fn borrowed_list(list: &Option<Vec<String>>) -> Option<Vec<Cow<'_, str>>> {
    list.as_ref().map(|items| items.iter().map(|item| Cow::Borrowed(item.as_str())).collect())
}

impl<'a> SignInView<'a> {
    /// The view of a sign-in read in full.
    pub fn of(s: &'a SignIn) -> SignInView<'a> {
        let status = s.status.as_ref();
        let location = s.location.as_ref();
        let coordinates = location.and_then(|l| l.geo_coordinates.as_ref());
        SignInView {
            id: Cow::Borrowed(&s.id),
            created_date_time: s.created_date_time,
            user_principal_name: borrowed(&s.user_principal_name),
            user_id: borrowed(&s.user_id),
            app_display_name: borrowed(&s.app_display_name),
            ip_address: borrowed(&s.ip_address),
            client_app_used: borrowed(&s.client_app_used),
            is_interactive: s.is_interactive,
            user_agent: borrowed(&s.user_agent),
            correlation_id: borrowed(&s.correlation_id),
            error_code: status.and_then(|st| st.error_code),
            failure_reason: status.and_then(|st| borrowed(&st.failure_reason)),
            additional_details: status.and_then(|st| borrowed(&st.additional_details)),
            city: location.and_then(|l| borrowed(&l.city)),
            state: location.and_then(|l| borrowed(&l.state)),
            country_or_region: location.and_then(|l| borrowed(&l.country_or_region)),
            latitude: coordinates.and_then(|c| c.latitude),
            longitude: coordinates.and_then(|c| c.longitude),
            risk_level_during_sign_in: borrowed(&s.risk_level_during_sign_in),
            risk_level_aggregated: borrowed(&s.risk_level_aggregated),
            risk_state: borrowed(&s.risk_state),
            risk_detail: borrowed(&s.risk_detail),
            risk_event_types: borrowed_list(&s.risk_event_types),
            risk_event_types_v2: borrowed_list(&s.risk_event_types_v2),
            authentication_requirement: borrowed(&s.authentication_requirement),
            sign_in_event_types: borrowed_list(&s.sign_in_event_types),
            service_principal_id: borrowed(&s.service_principal_id),
            service_principal_name: borrowed(&s.service_principal_name),
            resource_tenant_id: borrowed(&s.resource_tenant_id),
            home_tenant_id: borrowed(&s.home_tenant_id),
            category: s.extra.get("category").and_then(|v| v.as_str()).map(Cow::Borrowed),
        }
    }

    /// Reads the sign-in that `json` holds (one JSON object, nothing after it but whitespace)
    /// the lean way; `None` when the record needs the full model (see the module docs) or is
    /// not valid JSON.
    pub fn parse(json: &'a str) -> Option<SignInView<'a>> {
        let mut stream = serde_json::Deserializer::from_str(json).into_iter::<Lean<'a>>();
        let view = stream.next()?.ok()?.0;
        json[stream.byte_offset()..].trim_start().is_empty().then_some(view)
    }
}

/// How a lean reading at the start of a text went.
// The view lives on the stack for one call; boxing it would cost an allocation per record.
#[allow(clippy::large_enum_variant)]
pub(crate) enum LeanRead<'a> {
    /// A plain Graph sign-in, and the length of its JSON text.
    Read(SignInView<'a>, usize),
    /// The text ends inside the value: more input is needed.
    Incomplete,
    /// Anything else (another kind of record, an odd value, bad JSON): read it in full.
    Declined,
}

/// Reads the JSON value at the start of `text` the lean way.
pub(crate) fn read_lean(text: &str) -> LeanRead<'_> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Lean<'_>>();
    match stream.next() {
        Some(Ok(Lean(view))) => LeanRead::Read(view, stream.byte_offset()),
        Some(Err(error)) if error.is_eof() => LeanRead::Incomplete,
        _ => LeanRead::Declined,
    }
}

/// The error a lean reading stops with when the record needs the full model.
fn decline<E: de::Error>() -> E {
    E::custom("the record needs the full model")
}

/// A lean top-level reading.
struct Lean<'a>(SignInView<'a>);

impl<'de> Deserialize<'de> for Lean<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TopVisitor)
    }
}

struct TopVisitor;

/// Whether a key the lean reading does not read must make it decline: the full model would
/// read it as something (an audit property, an envelope, a Log Analytics column, a collection,
/// a property spelled in another case), not keep it aside.
fn is_special_key(key: &str) -> bool {
    DirectoryAuditField::exact(key).is_some()
        || crate::shape::log_analytics::is_column(key)
        || ["properties", "value", "records"].iter().any(|k| key.eq_ignore_ascii_case(k))
        || SignInField::ignoring_case(key).is_some()
        || DirectoryAuditField::ignoring_case(key).is_some()
}

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Lean<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a sign-in object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lean<'de>, A::Error> {
        let mut v = SignInView::default();
        // Properties only a sign-in has: the full model calls an object a sign-in by them.
        let mut marks = 0u32;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let Some(field) = SignInField::exact(&key.0) else {
                if is_special_key(&key.0) {
                    return Err(decline());
                }
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if !matches!(field, SignInField::id | SignInField::correlation_id | SignInField::user_agent) {
                marks += 1;
            }
            use SignInField as F;
            match field {
                F::id => match map.next_value::<Text<'de>>()?.0 {
                    Some(id) => v.id = id,
                    None => return Err(decline()),
                },
                F::created_date_time => {
                    v.created_date_time = match map.next_value::<Text<'de>>()?.0 {
                        Some(text) => Some(crate::time::parse_timestamp(&text).ok_or_else(decline)?),
                        None => None,
                    }
                }
                F::user_principal_name => v.user_principal_name = map.next_value::<Text<'de>>()?.0,
                F::user_id => v.user_id = map.next_value::<Text<'de>>()?.0,
                F::app_display_name => v.app_display_name = map.next_value::<Text<'de>>()?.0,
                F::ip_address => v.ip_address = map.next_value::<Text<'de>>()?.0,
                F::client_app_used => v.client_app_used = map.next_value::<Text<'de>>()?.0,
                F::is_interactive => v.is_interactive = map.next_value::<Flag>()?.0,
                F::user_agent => v.user_agent = map.next_value::<Text<'de>>()?.0,
                F::correlation_id => v.correlation_id = map.next_value::<Text<'de>>()?.0,
                F::status => map.next_value_seed(StatusSeed(&mut v))?,
                F::location => map.next_value_seed(LocationSeed(&mut v))?,
                F::risk_level_during_sign_in => v.risk_level_during_sign_in = map.next_value::<Text<'de>>()?.0,
                F::risk_level_aggregated => v.risk_level_aggregated = map.next_value::<Text<'de>>()?.0,
                F::risk_state => v.risk_state = map.next_value::<Text<'de>>()?.0,
                F::risk_detail => v.risk_detail = map.next_value::<Text<'de>>()?.0,
                F::risk_event_types => v.risk_event_types = map.next_value::<TextList<'de>>()?.0,
                F::risk_event_types_v2 => v.risk_event_types_v2 = map.next_value::<TextList<'de>>()?.0,
                F::authentication_requirement => v.authentication_requirement = map.next_value::<Text<'de>>()?.0,
                F::sign_in_event_types => v.sign_in_event_types = map.next_value::<TextList<'de>>()?.0,
                F::service_principal_id => v.service_principal_id = map.next_value::<Text<'de>>()?.0,
                F::service_principal_name => v.service_principal_name = map.next_value::<Text<'de>>()?.0,
                F::resource_tenant_id => v.resource_tenant_id = map.next_value::<Text<'de>>()?.0,
                F::home_tenant_id => v.home_tenant_id = map.next_value::<Text<'de>>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if marks == 0 {
            return Err(decline());
        }
        Ok(Lean(v))
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor).map(|text| Key(text.unwrap_or_default()))
    }
}

/// A string property: text (borrowed when it has no escapes) or `null`; anything else declines.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Text)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a string or null")
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(text)))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(text.to_owned())))
    }
    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(text)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(decline())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(decline())
    }
}

/// A collection of strings, or `null`; anything else declines.
struct TextList<'a>(Option<Vec<Cow<'a, str>>>);

impl<'de> Deserialize<'de> for TextList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextListVisitor).map(TextList)
    }
}

struct TextListVisitor;

impl<'de> Visitor<'de> for TextListVisitor {
    type Value = Option<Vec<Cow<'de, str>>>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an array of strings or null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Text(item)) = seq.next_element::<Text<'de>>()? {
            // A null element: the full model keeps the whole collection verbatim.
            items.push(item.ok_or_else(decline)?);
        }
        Ok(Some(items))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(decline())
    }
}

/// A boolean or `null`.
struct Flag(Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<bool>(std::marker::PhantomData)).map(Flag)
    }
}

/// An integer (Graph's `Edm.Int32`) or `null`.
struct Integer(Option<i64>);

impl<'de> Deserialize<'de> for Integer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<i64>(std::marker::PhantomData)).map(Integer)
    }
}

/// A number (Graph's `Edm.Double`) or `null`.
struct Double(Option<f64>);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor::<f64>(std::marker::PhantomData)).map(Double)
    }
}

/// How each scalar type takes JSON values, exactly as the full model's typed reading does for
/// values of the JSON type itself (text that would convert declines instead).
trait Scalar: Sized {
    fn from_bool(_: bool) -> Option<Self> {
        None
    }
    fn from_i64(_: i64) -> Option<Self> {
        None
    }
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
}

impl Scalar for bool {
    fn from_bool(value: bool) -> Option<Self> {
        Some(value)
    }
}

impl Scalar for i64 {
    fn from_i64(value: i64) -> Option<Self> {
        Some(value)
    }
    fn from_u64(value: u64) -> Option<Self> {
        i64::try_from(value).ok()
    }
}

impl Scalar for f64 {
    fn from_i64(value: i64) -> Option<Self> {
        Some(value as f64)
    }
    fn from_u64(value: u64) -> Option<Self> {
        Some(value as f64)
    }
    fn from_f64(value: f64) -> Option<Self> {
        Some(value)
    }
}

struct ScalarVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: Scalar> Visitor<'de> for ScalarVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a scalar or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        T::from_bool(value).map(Some).ok_or_else(decline)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        T::from_i64(value).map(Some).ok_or_else(decline)
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        T::from_u64(value).map(Some).ok_or_else(decline)
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        T::from_f64(value).map(Some).ok_or_else(decline)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(decline())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(decline())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(decline())
    }
}

/// Reads a nested object into the view (a repeated property replaces the earlier one, as in
/// the full model): `null` leaves its fields empty; anything but an object declines.
macro_rules! nested_seed {
    ($seed:ident, $field_enum:ident, $what:literal, |$v:ident, $map:ident, $field:ident| $clear:block $read:block) => {
        struct $seed<'v, 'a>(&'v mut SignInView<'a>);

        impl<'de, 'v> DeserializeSeed<'de> for $seed<'v, 'de> {
            type Value = ();

            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.deserialize_any(self)
            }
        }

        impl<'de, 'v> Visitor<'de> for $seed<'v, 'de> {
            type Value = ();

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str($what)
            }
            fn visit_unit<E: de::Error>(self) -> Result<(), E> {
                let $v = self.0;
                $clear;
                Ok(())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut $map: A) -> Result<(), A::Error> {
                let $v = self.0;
                $clear;
                while let Some(key) = $map.next_key::<Key<'de>>()? {
                    match $field_enum::exact(&key.0) {
                        Some($field) => $read,
                        None if $field_enum::ignoring_case(&key.0).is_some() => return Err(decline()),
                        None => {
                            $map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
                Err(decline())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
                Err(decline())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
                Err(decline())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
                Err(decline())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
                Err(decline())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
                Err(decline())
            }
        }
    };
}

nested_seed!(StatusSeed, SignInStatusField, "a signInStatus object", |v, map, field| {
    v.error_code = None;
    v.failure_reason = None;
    v.additional_details = None;
} {
    match field {
        SignInStatusField::error_code => v.error_code = map.next_value::<Integer>()?.0,
        SignInStatusField::failure_reason => v.failure_reason = map.next_value::<Text<'de>>()?.0,
        SignInStatusField::additional_details => v.additional_details = map.next_value::<Text<'de>>()?.0,
    }
});

nested_seed!(LocationSeed, SignInLocationField, "a signInLocation object", |v, map, field| {
    v.city = None;
    v.state = None;
    v.country_or_region = None;
    v.latitude = None;
    v.longitude = None;
} {
    match field {
        SignInLocationField::city => v.city = map.next_value::<Text<'de>>()?.0,
        SignInLocationField::state => v.state = map.next_value::<Text<'de>>()?.0,
        SignInLocationField::country_or_region => v.country_or_region = map.next_value::<Text<'de>>()?.0,
        SignInLocationField::geo_coordinates => map.next_value_seed(CoordinatesSeed(&mut *v))?,
    }
});

nested_seed!(CoordinatesSeed, GeoCoordinatesField, "a geoCoordinates object", |v, map, field| {
    v.latitude = None;
    v.longitude = None;
} {
    match field {
        GeoCoordinatesField::latitude => v.latitude = map.next_value::<Double>()?.0,
        GeoCoordinatesField::longitude => v.longitude = map.next_value::<Double>()?.0,
        GeoCoordinatesField::altitude => {
            // Not read, but of a documented type, as the full model requires of it.
            map.next_value::<Double>()?;
        }
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    fn full(json: &str) -> SignIn {
        match crate::parse_record(json.as_bytes()).expect("a record") {
            crate::Record::SignIn(s) => *s,
            crate::Record::Audit(_) => panic!("not a sign-in"),
        }
    }

    #[test]
    fn a_plain_sign_in_reads_the_same_lean_and_in_full() {
        let json = r#"{"id":"a\"1","createdDateTime":"2024-01-01T10:00:00.1234567Z","userPrincipalName":"Alice@Contoso.com",
            "isInteractive":true,"status":{"errorCode":50126,"failureReason":"bad","additionalDetails":null},
            "location":{"city":"Berlin","countryOrRegion":"DE","geoCoordinates":{"latitude":52.5,"longitude":13,"altitude":null}},
            "riskEventTypes_v2":["unlikelyTravel"],"unknownThing":{"x":[1,2]},"appliedConditionalAccessPolicies":[{"id":"p"}]}"#;
        let view = SignInView::parse(json).expect("lean");
        let record = full(json);
        assert_eq!(view, SignInView::of(&record));
        assert!(matches!(view.user_principal_name, Some(Cow::Borrowed(_))), "no copy without escapes");
        assert!(matches!(view.id, Cow::Owned(_)), "escapes are decoded");
        assert_eq!(view.longitude, Some(13.0));
    }

    #[test]
    fn records_that_need_the_full_model_are_declined() {
        for json in [
            r#"{"id":"1","createdDateTime":"2024-01-01T10:00:00Z","UserPrincipalName":"a"}"#,
            r#"{"id":"1","createdDateTime":"2024-01-01T10:00:00Z","status":{"errorCode":"50126"}}"#,
            r#"{"id":"1","createdDateTime":"yesterday","appId":"x"}"#,
            r#"{"id":"1","activityDateTime":"2024-01-01T10:00:00Z","activityDisplayName":"x"}"#,
            r#"{"id":"1","createdDateTime":"2024-01-01T10:00:00Z","category":"SignInLogs"}"#,
            r#"{"time":"2024-01-01T10:00:00Z","properties":{"id":"1","appId":"x"}}"#,
            r#"{"value":[{"id":"1","appId":"x"}]}"#,
            r#"{"TimeGenerated":"2024-01-01T10:00:00Z","UserPrincipalName":"a","Type":"SigninLogs"}"#,
            r#"{"id":"1","correlationId":"c"}"#,
            r#"{"id":1,"appId":"x"}"#,
            r#"{"id":"1","appId":"x","location":"Berlin"}"#,
            r#"{"id":"1","appId":"x","riskEventTypes":["a",null]}"#,
            r#"{"id":"1","appId":"x","isInteractive":"true"}"#,
            r#"{"id":"1","appId":"x","location":{"geoCoordinates":{"latitude":"52"}}}"#,
            r#"{"id":"1","appId":"x"} trailing"#,
            r#"["not an object"]"#,
            r#"{"id":"1","appId":"x""#,
        ] {
            assert_eq!(SignInView::parse(json), None, "{json}");
        }
    }

    #[test]
    fn repeated_properties_replace_earlier_ones() {
        let json = r#"{"id":"1","appId":"x","status":{"errorCode":1,"failureReason":"r"},"status":{"errorCode":2},
            "userId":"u","userId":null}"#;
        let view = SignInView::parse(json).expect("lean");
        assert_eq!(view, SignInView::of(&full(json)));
        assert_eq!((view.error_code, view.failure_reason, view.user_id), (Some(2), None, None));
    }
}
