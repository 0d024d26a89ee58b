//! The record model: Microsoft Graph `signIn` (v1.0 and beta) and `directoryAudit` records,
//! and streaming readers for the export formats administrators actually have.
//!
//! Why a crate of its own: every other part of m365-monitor (the rules engine, the collector,
//! graph-sim, `m365mon scan`) meets Microsoft's data through these types, so there is exactly one
//! place that knows Graph's property names, its null and casing quirks and its timestamp spellings.
//! The crate does no I/O of its own: readers take any [`std::io::Read`].
//!
//! # Records
//!
//! [`SignIn`] and [`DirectoryAudit`] have a typed field for every property Microsoft documents
//! for v1.0 and beta, with typed nested types ([`signin`], [`audit`]). Enumerations are strings,
//! because Microsoft adds values. [`Record`] holds either kind.
//!
//! Reading is **tolerant** (see [below](#tolerance-and-losslessness)): nulls,
//! missing properties, duplicate keys (the last wins), key case variants (`Type` for `type`) and
//! values of an unexpected shape never fail a record. It is **lossless**: properties the crate does
//! not know, and known properties whose value is `null` or not of the documented type (a `location`
//! given as text), are kept verbatim in the struct's `extra` map and written back unchanged.
//!
//! ## Tolerance and losslessness
//!
//! Serialising a record writes the Graph JSON shape. For a Graph-shaped input, read → write gives
//! back the same JSON value except for these documented normalisations:
//!
//! - key case: a property matched ignoring case is written with Graph's spelling (`Type` → `type`);
//! - timestamps are written as Graph writes them: UTC with `Z`, fractional seconds without
//!   trailing zeros (`2020-03-13T19:15:41.6195833Z` stays as it is; `…+00:00`, `…-05:00`, no zone,
//!   `2023-07-26 22:58:30.983201900` or `4/28/2021, 2:08:45.221 PM` become
//!   `…Z`-form UTC); timestamps that cannot be read are kept verbatim;
//! - converted values are written in their Graph type: `"errorCode": "50126"` → `50126`,
//!   `"isInteractive": "TRUE"` → `true`, an integral `latitude` → a JSON float (`0` → `0.0`);
//! - a repeated key keeps its last value (as `serde_json::Value` does);
//! - the raw API's [`split_page`] keeps each record's exact text, for code that must forward
//!   records byte for byte (the collector).
//!
//! Reading a value never fails a record; only input that is not JSON, or a JSON object with
//! none of either record type's properties, is an error. Beta `directoryAudit.performedBy` is
//! read with the shape of `initiatedBy` (the sources at hand do not document its type); any other
//! shape is kept verbatim.
//!
//! # Readers
//!
//! [`RecordReader`] reads one source, detecting the format from its content (not its name):
//!
//! | format | example |
//! |---|---|
//! | Graph page(s) | `{"@odata.context": …, "@odata.nextLink": …, "value": [ … ]}`, one, several concatenated, or one per line |
//! | JSON array | `[ {…}, {…} ]`, also of pages |
//! | JSON lines / concatenated | `{…}\n{…}\n` |
//! | single object | `{…}` |
//! | Event Hub / diagnostic settings | `{"records": [ … ]}`, or bare records one per line |
//! | Log Analytics JSON | rows with PascalCase columns (`SigninLogs`, `AADNonInteractiveUserSignInLogs`, `AADServicePrincipalSignInLogs`, `AADManagedIdentitySignInLogs`, `AuditLogs`) |
//! | Log Analytics CSV | portal exports: JSON-text cells, `X_dynamic`/`X_string` splits, `CreatedDateTime [UTC]`, `TRUE`/`FALSE` |
//!
//! Records are recognised one by one (sign-ins and audits may be mixed) and normalised to the
//! Graph shape. An object is an Event Hub record when it has a `properties` object and envelope
//! keys around it (or nothing else), and a Log Analytics row when its PascalCase columns include a
//! `Type` naming a table, a `TimeGenerated`, or at least three known columns; otherwise it is a
//! Graph record, a sign-in or an audit by whichever type's own properties it has.
//!
//! - **Event Hub** records: the `properties` object is the record; the envelope (`time`,
//!   `category`, `tenantId`, `resultType`, `callerIpAddress`, …, key case normalised:
//!   `calleripaddress` → `callerIpAddress`, `Level` → `level`) is kept in [`ReadItem::envelope`].
//!   What the record lacks is filled from the envelope: `createdDateTime` / `activityDateTime`
//!   from `time`, `activityDisplayName` from `operationName`, `status.errorCode` (and, for
//!   failures, `failureReason`) from `resultType` / `resultDescription`, `ipAddress` from
//!   `callerIpAddress`, `signInEventTypes` from the category (`SignInLogs`,
//!   `NonInteractiveUserSignInLogs`, `ServicePrincipalSignInLogs`,
//!   `MicrosoftServicePrincipalSignInLogs`, `ManagedIdentitySignInLogs`). Envelopes without
//!   `properties` (`{"time", "category"}`) give a record with just those.
//! - **Log Analytics** rows: columns become Graph properties (ignoring case, plus the renamed ones:
//!   `LocationDetails` → `location`, `ConditionalAccessPolicies` → `appliedConditionalAccessPolicies`,
//!   `ResourceIdentity` → `resourceId`, `ProcessingTimeInMs` → `processingTimeInMilliseconds`,
//!   `AADOperationType` → `operationType`); JSON text in object and collection columns is decoded;
//!   the other columns (`TimeGenerated`, `TenantId` — the workspace —, `ResourceId` — the ARM path —,
//!   `Location` — the country —, `ResultType`, projected query columns, …) go to the envelope.
//!   `TimeGenerated` (ingestion time) stands in for the event time only when the row has none;
//!   `status` comes from `ResultType` / `ResultDescription` when the row has no `Status`.
//! - The sign-in event type ([`ReadItem::event_type`]) comes from the Event Hub category or the
//!   Log Analytics table, else from `signInEventTypes`, else from `isInteractive`
//!   ([`SignIn::event_type`]).
//!
//! Memory does not grow with the input: a 1 GB page is read record by record (the reader keeps
//! one record and one 256 KiB chunk; records above 64 MiB, configurable, are reported and skipped
//! unbuffered). A record that cannot be read yields a [`ReadError`] (file, record number, the line
//! the record starts on, byte offset, reason) and reading continues with the next one: at the
//! record's end, or — when the record itself is cut or unbalanced — at the next line that starts
//! a record at the same indentation (JSON lines, pretty-printed arrays). Truncated or garbage
//! input yields errors, never a panic or an endless loop.
//!
//! Not supported as input: Log Analytics query API responses (`{"tables": [{"columns", "rows"}]}`),
//! UTF-16 text (reported with a hint to convert it) and test-case wrappers around records (such
//! as Panther's `{"log": {…}}`; unwrap them and use [`parse_record`]).
//!
//! [`RecordReader::for_each_view`] reads plain Graph sign-ins as lean borrowed [`SignInView`]s
//! (only the properties detection reads; see [`view`]) and everything else in full: the fast
//! path of `m365mon scan`.
//!
//! The raw API ([`split_page`], [`parse_record`], [`parse_record_detailed`]) serves the collector
//! and graph-sim: a page body split into its records' exact JSON text plus `@odata.nextLink`, and
//! one record parsed at a time.

pub mod audit;
mod graph_value;
pub mod read;
pub mod record;
mod shape;
pub mod signin;
pub mod time;
pub mod view;

pub use audit::{
    AppIdentity, AuditActivityInitiator, DirectoryAudit, KeyValue, LinkableIdentifiers, ModifiedProperty,
    TargetResource, TokenDetails, UserIdentity,
};
pub use read::{
    GraphPage, PageError, ReadError, ReadItem, RecordError, RecordReader, SourceFormat, ViewItem, parse_record,
    parse_record_detailed, split_page,
};
pub use record::{Record, RecordKind, SignInEventType};
pub use shape::{ParsedRecord, RecordShape};
pub use signin::{GeoCoordinates, SignIn, SignInLocation, SignInStatus};
pub use view::SignInView;
