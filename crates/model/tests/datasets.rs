//! Golden tests over every file of the shared third-party datasets (`<workspace>/../shared/datasets`).
//!
//! Each file is accounted for in [`FILES`]: record files are read through `RecordReader` with their
//! record count and key fields of a few records checked, and round-tripped; files that are not
//! records (schemas, column lists, HTTP examples) say so and are used for what they are (the
//! schemas check that every documented property has a typed field). A new file in the directory
//! that no entry accounts for fails [`every_dataset_file_is_accounted_for`].
//!
//! The datasets are not part of the repository: without them every test prints a notice and passes.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use m365mon_model::{
    DirectoryAudit, ReadError, ReadItem, RecordKind, RecordReader, RecordShape, SignIn, SignInEventType, parse_record,
    parse_record_detailed,
};
use serde_json::{Map, Value, json};

/// What a dataset file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Records the reader must read: the expected count.
    Records(usize),
    /// Not records; the reason.
    NotRecords(&'static str),
    /// Panther's test-case wrapper: the `log` objects are records, read through `parse_record`.
    PantherCases(usize),
    /// A schema used to check the model's coverage of Microsoft's properties.
    Schema,
    /// The datasets' own documentation.
    Documentation,
}

const FILES: &[(&str, Role)] = &[
    ("README.md", Role::Documentation),
    ("azure-sentinel-training-lab/AuditLogs_Hunting.csv", Role::Records(5)),
    ("azure-sentinel-training-lab/sign-in_adelete.first7.csv", Role::Records(7)),
    ("elastic-integrations/auditlogs/test-audit-logs-edgecases.log", Role::Records(2)),
    ("elastic-integrations/auditlogs/test-audit-logs-sample.log", Role::Records(3)),
    ("elastic-integrations/auditlogs/test-auditlogs-raw.log", Role::Records(3)),
    ("elastic-integrations/auditlogs/test-auditlogs-result-reason.log", Role::Records(1)),
    ("elastic-integrations/signinlogs/test-managed-identity-sample.first3.log", Role::Records(3)),
    ("elastic-integrations/signinlogs/test-non-interactive-user-sample.first6.log", Role::Records(6)),
    ("elastic-integrations/signinlogs/test-service-principal-signinlogs-sample.log", Role::Records(7)),
    ("elastic-integrations/signinlogs/test-signinlogs-raw.log", Role::Records(5)),
    ("elastic-integrations/signinlogs/test-signinlogs-sample.log", Role::Records(2)),
    ("elastic-integrations/signinlogs/test-time-formats-corner-cases.log", Role::Records(11)),
    ("graph-docs-examples/beta_signin-list_example1_failed-password.response.json", Role::Records(1)),
    ("graph-docs-examples/beta_signin-list_example2_nextLink.response.json", Role::Records(1)),
    (
        "graph-docs-examples/throttling-429.examples.json",
        Role::NotRecords("HTTP 429 response examples for the Graph client and graph-sim"),
    ),
    ("graph-docs-examples/v1.0_directoryaudit-list_example1.response.json", Role::Records(1)),
    ("graph-docs-examples/v1.0_directoryaudit-list_example2_filter-initiatedBy.response.json", Role::Records(1)),
    ("graph-docs-examples/v1.0_signin-list_example1.response.json", Role::Records(1)),
    ("identity-platform/aadsts-error-codes.subset.csv", Role::NotRecords("a table of AADSTS error codes")),
    (
        "identity-platform/token-endpoint-examples.json",
        Role::NotRecords("OAuth token endpoint request/response examples"),
    ),
    ("log-analytics-schema/AADManagedIdentitySignInLogs.columns.csv", Role::Schema),
    ("log-analytics-schema/AADNonInteractiveUserSignInLogs.columns.csv", Role::Schema),
    ("log-analytics-schema/AADServicePrincipalSignInLogs.columns.csv", Role::Schema),
    ("log-analytics-schema/AuditLogs.columns.csv", Role::Schema),
    ("log-analytics-schema/MicrosoftGraphActivityLogs.columns.csv", Role::Schema),
    ("log-analytics-schema/SigninLogs.columns.csv", Role::Schema),
    ("msgraph-metadata/graph-beta-signin-directoryaudit.csdl.xml", Role::Schema),
    ("msgraph-metadata/graph-beta-signin-directoryaudit.openapi-schemas.json", Role::Schema),
    ("msgraph-metadata/graph-signin-directoryaudit.property-names.prod.json", Role::Schema),
    ("msgraph-metadata/graph-v1.0-signin-directoryaudit.csdl.xml", Role::Schema),
    ("msgraph-metadata/graph-v1.0-signin-directoryaudit.openapi-schemas.json", Role::Schema),
    ("otrf-security-datasets/GoldenSAMLADFSMailAccess_AADAuditEvents.json", Role::Records(4)),
    ("panther-analysis/panther_azure_signin_rule_tests.jsonl", Role::PantherCases(47)),
    ("wazuh/graph_events.directoryAudits.json", Role::Records(2)),
    (
        "wazuh/msgraph_mock_responses.json",
        Role::NotRecords("a mock Graph/token server script (URLs and canned responses)"),
    ),
];

fn datasets() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: ../shared/datasets not found (the third-party datasets are not part of the repository)");
        None
    }
}

fn read(dir: &Path, name: &str) -> (Vec<ReadItem>, Vec<ReadError>) {
    let file = File::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for result in RecordReader::new(file, name) {
        match result {
            Ok(item) => items.push(item),
            Err(error) => errors.push(error),
        }
    }
    (items, errors)
}

/// Reads a record file that must read without errors.
fn records(dir: &Path, name: &str) -> Vec<ReadItem> {
    let (items, errors) = read(dir, name);
    assert!(errors.is_empty(), "{name}: {errors:#?}");
    let expected = FILES.iter().find(|(file, _)| *file == name).map(|(_, role)| *role);
    if let Some(Role::Records(count)) = expected {
        assert_eq!(items.len(), count, "{name}: record count");
    }
    items
}

fn sign_in(item: &ReadItem) -> &SignIn {
    item.record.as_sign_in().unwrap_or_else(|| panic!("record {} is not a sign-in", item.record_number))
}

fn audit(item: &ReadItem) -> &DirectoryAudit {
    item.record.as_audit().unwrap_or_else(|| panic!("record {} is not an audit", item.record_number))
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("test timestamp").with_timezone(&Utc)
}

fn list_files(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("readable datasets directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            list_files(&path, base, out);
        } else {
            let relative = path.strip_prefix(base).expect("inside the base").to_string_lossy().replace('\\', "/");
            out.insert(relative);
        }
    }
}

#[test]
fn every_dataset_file_is_accounted_for() {
    let Some(dir) = datasets() else { return };
    let mut present = BTreeSet::new();
    list_files(&dir, &dir, &mut present);
    let known: BTreeSet<String> = FILES.iter().map(|(name, _)| (*name).to_owned()).collect();
    let unaccounted: Vec<_> = present.difference(&known).collect();
    assert!(unaccounted.is_empty(), "dataset files no test accounts for (add them to FILES): {unaccounted:?}");
    let missing: Vec<_> = known.difference(&present).collect();
    assert!(missing.is_empty(), "FILES lists files that are gone: {missing:?}");
    // Every record file reads with the expected count and no errors; every non-record file yields
    // no record.
    for (name, role) in FILES {
        match role {
            Role::Records(_) => {
                records(&dir, name);
            }
            Role::NotRecords(reason) => {
                let (items, errors) = read(&dir, name);
                assert!(items.is_empty(), "{name} ({reason}) must not yield records");
                assert!(!errors.is_empty(), "{name} ({reason}) must be reported as not records");
            }
            Role::PantherCases(_) | Role::Schema | Role::Documentation => {}
        }
    }
}

// ---------------------------------------------------------------- Graph documentation examples

#[test]
fn graph_docs_v1_sign_in() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "graph-docs-examples/v1.0_signin-list_example1.response.json");
    let item = &items[0];
    assert_eq!(item.shape, RecordShape::Graph);
    let s = sign_in(item);
    assert_eq!(s.id, "66ea54eb-6301-4ee5-be62-ff5a759b0100");
    assert_eq!(s.created_date_time, Some(utc("2020-03-13T19:15:41.6195833Z")));
    assert_eq!(s.user_principal_name.as_deref(), Some("testaccount1@contoso.com"));
    assert_eq!(s.error_code(), Some(0));
    assert_eq!(s.country(), Some("US"));
    assert_eq!(s.coordinates(), Some((47.68050003051758, -122.12094116210938)));
    assert_eq!(s.applied_conditional_access_policies.as_ref().map(Vec::len), Some(2));
    assert_eq!(item.event_type, Some(SignInEventType::InteractiveUser));
    // Nulls are kept for writing back, not typed.
    assert_eq!(s.status.as_ref().unwrap().extra.get("failureReason"), Some(&Value::Null));
}

#[test]
fn graph_docs_beta_failed_password_with_duplicate_keys() {
    let Some(dir) = datasets() else { return };
    for name in [
        "graph-docs-examples/beta_signin-list_example1_failed-password.response.json",
        "graph-docs-examples/beta_signin-list_example2_nextLink.response.json",
    ] {
        let items = records(&dir, name);
        let s = sign_in(&items[0]);
        assert_eq!(s.id, "1691d37b-8579-43a7-966a-0f35583c1300");
        assert_eq!(s.created_date_time, Some(utc("2021-06-30T16:34:32Z")));
        assert_eq!(s.error_code(), Some(50126));
        // `homeTenantId` appears twice: the last value wins.
        assert_eq!(s.home_tenant_id.as_deref(), Some("99081087-73c4-48d1-a112-f60ff75114f7"));
        assert_eq!(s.authentication_protocol.as_deref(), Some("oAuth2"));
        assert_eq!(s.incoming_token_type.as_deref(), Some("Primary Refresh Token"));
        assert_eq!(s.autonomous_system_number, Some(3598));
        let steps = s.authentication_details.as_ref().expect("authenticationDetails");
        assert_eq!(steps[0].succeeded, Some(false));
        assert_eq!(steps[0].authentication_method.as_deref(), Some("Password"));
        assert_eq!(s.network_location_details.as_ref().unwrap()[0].network_type.as_deref(), Some("namedNetwork"));
        // `geoCoordinates: {}` reads as empty coordinates: no location evidence.
        assert_eq!(s.coordinates(), None);
        assert!(s.status.as_ref().unwrap().additional_details.as_deref().unwrap().contains('\u{a0}'));
        assert!(s.extra.is_empty(), "{name}: every property is typed: {:?}", s.extra);
    }
}

#[test]
fn graph_docs_directory_audits() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "graph-docs-examples/v1.0_directoryaudit-list_example1.response.json");
    let a = audit(&items[0]);
    assert_eq!(a.id, "id");
    assert_eq!(a.activity_display_name.as_deref(), Some("Add member to group"));
    assert_eq!(a.activity_date_time, Some(utc("2018-01-09T21:20:02.7215374Z")));
    assert_eq!(a.initiator_upn(), Some("bob@wingtiptoysonline.com"));
    // `Type` (capital T) is read as `type`.
    assert_eq!(a.target_resources[0].resource_type.as_deref(), Some("Group"));
    assert_eq!(a.target_resources[0].group_type.as_deref(), Some("unifiedGroups"));
    assert_eq!(a.target_resources[0].modified_properties[0].new_value.as_deref(), Some("DirectorySync"));

    let items = records(&dir, "graph-docs-examples/v1.0_directoryaudit-list_example2_filter-initiatedBy.response.json");
    let a = audit(&items[0]);
    assert_eq!(a.id, "SSGM_b662f17a-4e4d-4e1c-9248-cdec180024b2_MCDC4_88453290");
    assert_eq!(a.category.as_deref(), Some("GroupManagement"));
    let user = a.initiated_by.as_ref().unwrap().user.as_ref().unwrap();
    assert_eq!(user.ip_address.as_deref(), Some("10.0.0.0"));
    // Open-type properties Microsoft adds are kept.
    assert_eq!(user.extra.get("userType"), Some(&Value::Null));
}

// ---------------------------------------------------------------- Event Hub (Elastic fixtures)

#[test]
fn elastic_sign_ins_every_category() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "elastic-integrations/signinlogs/test-signinlogs-raw.log");
    let expected = [
        SignInEventType::InteractiveUser,
        SignInEventType::NonInteractiveUser,
        SignInEventType::ServicePrincipal,
        SignInEventType::ServicePrincipal,
        SignInEventType::ManagedIdentity,
    ];
    for (item, event_type) in items.iter().zip(expected) {
        assert_eq!(item.shape, RecordShape::EventHub);
        assert_eq!(item.event_type, Some(event_type));
        assert_eq!(item.tenant_id.as_deref(), Some("8a4de8b5-095c-47d0-a96f-a75130c61d53"));
        let s = sign_in(item);
        assert_eq!(s.id, "8a4de8b5-095c-47d0-a96f-a75130c61d53");
        // `-05:00` offset: the same instant as the envelope `time`.
        assert_eq!(s.created_date_time, Some(utc("2019-10-18T09:45:48.0729893Z")));
        assert_eq!(s.error_code(), Some(50140));
        assert_eq!(item.envelope_value("resultType"), Some(&json!("50140")));
        assert_eq!(item.envelope_value("level"), Some(&json!("4")));
    }
    assert_eq!(sign_in(&items[0]).user_principal_name.as_deref(), Some("test@elastic.co"));

    let items = records(&dir, "elastic-integrations/signinlogs/test-signinlogs-sample.log");
    let s = sign_in(&items[0]);
    assert_eq!(s.id, "933f20c0-efdf-477f-9586-e5cc566d2e00");
    assert_eq!(s.user_principal_name.as_deref(), Some("mpliftrelastic20210901@outlook.com"));
    assert!(s.authentication_details.is_some() && s.authentication_processing_details.is_some());
    // A key in no Graph type is kept.
    assert!(s.extra.contains_key("ssoExtensionVersion"));

    let items = records(&dir, "elastic-integrations/signinlogs/test-non-interactive-user-sample.first6.log");
    assert!(items.iter().all(|i| i.event_type == Some(SignInEventType::NonInteractiveUser)));
    assert_eq!(sign_in(&items[5]).created_date_time, Some(utc("2022-01-24T05:10:11.429773Z")));

    let items = records(&dir, "elastic-integrations/signinlogs/test-service-principal-signinlogs-sample.log");
    let s = sign_in(&items[0]);
    assert_eq!(items[0].event_type, Some(SignInEventType::ServicePrincipal));
    assert_eq!(s.id, "d5935dca-86f2-4ac9-a42c-3593b00af801");
    assert_eq!(s.user_id, None);
    assert_eq!(s.extra.get("userId"), Some(&Value::Null));
    assert!(s.service_principal_credential_key_id.is_some());

    let items = records(&dir, "elastic-integrations/signinlogs/test-managed-identity-sample.first3.log");
    let s = sign_in(&items[0]);
    assert_eq!(items[0].event_type, Some(SignInEventType::ManagedIdentity));
    assert_eq!(s.id, "a08869a8-3b15-46e4-8de3-273849e60100");
    assert_eq!(s.ip_address.as_deref(), Some(""));
    // Zero coordinates are no location evidence.
    assert_eq!(s.coordinates(), None);
}

#[test]
fn elastic_time_format_corner_cases() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "elastic-integrations/signinlogs/test-time-formats-corner-cases.log");
    let expected = [
        "2007-01-09T09:41:00Z",
        "2007-01-09T09:41:00Z",
        "2007-01-09T09:41:00Z",
        "2007-01-09T09:41:00Z",
        "2007-01-09T09:41:00Z",
        "2007-01-09T09:41:00Z",
        "2007-01-09T09:41:00.22Z",
        "2007-01-09T09:41:00.6816663Z",
        "2007-01-09T09:41:00.535404056Z",
        "2007-01-09T09:41:00.992099Z",
        "2007-01-09T09:41:00Z",
    ];
    for (item, time) in items.iter().zip(expected) {
        // Envelopes without `properties`: the record carries what the envelope says.
        assert_eq!(item.record.kind(), RecordKind::Signin);
        assert_eq!(item.record.event_time(), Some(utc(time)), "record {}", item.record_number);
        assert_eq!(item.event_type, Some(SignInEventType::InteractiveUser));
        assert_eq!(item.record.id(), "");
    }
}

#[test]
fn elastic_audits() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "elastic-integrations/auditlogs/test-audit-logs-sample.log");
    let a = audit(&items[0]);
    assert_eq!(a.id, "Directory_53161141-e3f4-4944-85b6-7b953f17265e_6X649_134684731");
    assert_eq!(a.activity_display_name.as_deref(), Some("Add service principal credentials"));
    assert_eq!(a.activity_date_time, Some(utc("2022-01-22T18:15:02.5168093Z")));
    assert_eq!(
        a.initiated_by.as_ref().unwrap().app.as_ref().unwrap().display_name.as_deref(),
        Some("Managed Service Identity")
    );
    assert_eq!(items[0].tenant_id.as_deref(), Some("4bbb79f7-5724-4c9e-95f3-de075f6ec090"));
    assert_eq!(a.extra.get("userAgent"), Some(&Value::Null));
    // `administrativeUnits` is not a Graph property of targetResource: kept.
    assert!(a.target_resources[0].extra.contains_key("administrativeUnits"));

    let items = records(&dir, "elastic-integrations/auditlogs/test-auditlogs-raw.log");
    assert_eq!(audit(&items[0]).id, "Directory_ESQ");
    assert_eq!(audit(&items[1]).initiator_upn(), Some("UserName"));
    assert_eq!(audit(&items[1]).initiated_by.as_ref().unwrap().user.as_ref().unwrap().extra["roles"], "admin");
    assert_eq!(items[0].envelope_value("level"), Some(&json!("Informational")));

    let items = records(&dir, "elastic-integrations/auditlogs/test-audit-logs-edgecases.log");
    assert_eq!(items[0].envelope_value("callerIpAddress"), Some(&json!("2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6")));
    assert_eq!(items[1].envelope_value("callerIpAddress"), Some(&json!("::2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6")));

    let items = records(&dir, "elastic-integrations/auditlogs/test-auditlogs-result-reason.log");
    let a = audit(&items[0]);
    assert_eq!(a.result.as_deref(), Some("failure"));
    assert_eq!(a.activity_display_name.as_deref(), Some("Add member to role"));
    assert!(a.result_reason.as_deref().is_some_and(|r| !r.is_empty()));
}

// ---------------------------------------------------------------- Log Analytics exports

#[test]
fn sentinel_sign_in_csv_export() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "azure-sentinel-training-lab/sign-in_adelete.first7.csv");
    let first = &items[0];
    assert_eq!(first.shape, RecordShape::LogAnalytics);
    assert_eq!(first.event_type, Some(SignInEventType::InteractiveUser));
    assert_eq!(first.tenant_id.as_deref(), Some("2ad3fc79-1859-42fa-9011-6f8df2251b22"));
    let s = sign_in(first);
    assert_eq!(s.id, "cfb68155-70f5-4e28-b046-0a3a7086c401");
    // "4/28/2021, 2:08:45.221 PM" in a `CreatedDateTime [UTC]` column.
    assert_eq!(s.created_date_time, Some(utc("2021-04-28T14:08:45.221Z")));
    assert_eq!(s.user_principal_name.as_deref(), Some("adelev@m365x816222.onmicrosoft.com"));
    assert_eq!(s.ip_address.as_deref(), Some("175.45.176.99"));
    assert_eq!(s.is_interactive, Some(true));
    assert_eq!(s.error_code(), Some(0));
    assert_eq!(s.country(), Some("IL"));
    assert_eq!(s.location.as_ref().unwrap().city.as_deref(), Some("Azor"));
    assert_eq!(s.resource_id.as_deref(), Some("797f4846-ba00-4fd7-ba43-dac1f8f63013"));
    assert_eq!(
        s.authentication_details.as_ref().unwrap()[0].authentication_method.as_deref(),
        Some("Previously satisfied")
    );
    // `StatusSequence` is not a Graph property: kept.
    assert!(s.authentication_details.as_ref().unwrap()[0].extra.contains_key("StatusSequence"));
    // Log Analytics sends the condition flags as integers: kept verbatim.
    let policy = &s.applied_conditional_access_policies.as_ref().unwrap()[0];
    assert_eq!(policy.extra.get("conditionsSatisfied"), Some(&json!(0)));
    // Columns that are not Graph properties stay in the envelope.
    assert_eq!(first.envelope_value("Location"), Some(&json!("IL")));
    assert_eq!(first.envelope_value("TenantId"), Some(&json!("7c759f10-811c-4db8-ad6d-f07d8ae3f8ea")));
    assert_eq!(sign_in(&items[6]).created_date_time, Some(utc("2021-04-28T14:29:07.970Z")));
    assert!(items.iter().all(|i| sign_in(i).ip_address.as_deref() == Some("175.45.176.99")));
}

#[test]
fn sentinel_audit_csv_export() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "azure-sentinel-training-lab/AuditLogs_Hunting.csv");
    let a = audit(&items[0]);
    assert_eq!(a.id, "Directory_9cee9603-bca7-4e62-9634-f1bfdc39ca2f_1261B_35670955");
    assert_eq!(a.category.as_deref(), Some("ApplicationManagement"));
    assert_eq!(a.initiator_upn(), Some("victim@buildseccxpninja.onmicrosoft.com"));
    assert_eq!(a.initiator_ip(), Some("45.153.160.2"));
    assert_eq!(a.operation_type.as_deref(), Some("Update"));
    let key = &a.target_resources[0].modified_properties[0];
    assert_eq!(key.display_name.as_deref(), Some("KeyDescription"));
    assert!(key.new_json().is_some_and(|v| v.as_array().is_some_and(|keys| keys.len() == 2)));
    // The hunting query exported no time column.
    assert_eq!(a.activity_date_time, None);
    assert_eq!(items[0].envelope_value("keyIdentifier"), Some(&json!("11ca002d-d846-4692-8e1f-501db99f485a")));
    assert!(items[1..].iter().all(|i| audit(i).initiator_upn() == Some("VadimJ@buildseccxpninja.onmicrosoft.com")));
}

#[test]
fn otrf_log_analytics_audit_rows() {
    let Some(dir) = datasets() else { return };
    let items = records(&dir, "otrf-security-datasets/GoldenSAMLADFSMailAccess_AADAuditEvents.json");
    let a = audit(&items[0]);
    assert_eq!(items[0].shape, RecordShape::LogAnalytics);
    assert_eq!(a.id, "Directory_10065ffb-8199-48bc-8ff5-912cb5b8295a_AUMVX_13992832");
    assert_eq!(a.activity_date_time, Some(utc("2021-08-02T13:29:25.983Z")));
    assert_eq!(a.initiator_upn(), Some("pgustavo@simulandlabs.com"));
    assert_eq!(a.target_resources[0].display_name.as_deref(), Some("SimuLandApp"));
    assert_eq!(items[0].envelope_value("InitiatingUserOrApp"), Some(&json!("pgustavo@simulandlabs.com")));
    let activities: Vec<_> = items.iter().map(|i| audit(i).activity_display_name.clone().unwrap_or_default()).collect();
    assert!(activities.iter().any(|a| a == "Add delegated permission grant"), "{activities:?}");
}

// ---------------------------------------------------------------- Wazuh Graph page

#[test]
fn wazuh_directory_audits_page() {
    let Some(dir) = datasets() else { return };
    let file = File::open(dir.join("wazuh/graph_events.directoryAudits.json")).unwrap();
    let mut reader = RecordReader::new(file, "wazuh");
    let items: Vec<ReadItem> = reader.by_ref().map(|r| r.expect("readable")).collect();
    assert_eq!(items.len(), 2);
    // `@odata.nextLink` after `value` is still seen.
    assert_eq!(reader.next_link(), Some("nextLink"));
    let a = audit(&items[0]);
    assert_eq!(a.activity_date_time, Some(utc("2022-06-21T08:50:10.7019038Z")));
    assert_eq!(a.logged_by_service.as_deref(), Some("B2C"));
    assert_eq!(a.initiated_by.as_ref().unwrap().extra.get("user"), Some(&Value::Null));
    // The second record (a poller's mistake) has `createdDateTime` instead of `activityDateTime`:
    // still an audit, the odd key kept, but no event time.
    let second = audit(&items[1]);
    assert_eq!(second.activity_date_time, None);
    assert_eq!(second.extra.get("createdDateTime"), Some(&json!("2022-06-21T08:50:10.6708119Z")));
}

// ---------------------------------------------------------------- Panther test cases

#[test]
fn panther_cases_read_through_the_record_parser() {
    let Some(dir) = datasets() else { return };
    let text = std::fs::read_to_string(dir.join("panther-analysis/panther_azure_signin_rule_tests.jsonl")).unwrap();
    let mut parsed = Vec::new();
    for (line, case) in text.lines().enumerate() {
        let case: Value = serde_json::from_str(case).unwrap_or_else(|e| panic!("line {}: {e}", line + 1));
        // The wrapper is Panther's, not a log format: unwrap `log` here.
        let log = serde_json::to_vec(&case["log"]).unwrap();
        let record = parse_record_detailed(&log).unwrap_or_else(|e| panic!("line {}: {e}", line + 1));
        assert_eq!(record.shape, RecordShape::EventHub, "line {}", line + 1);
        parsed.push((case, record));
    }
    assert_eq!(parsed.len(), 47);
    for (case, record) in &parsed {
        let category = case["log"]["category"].as_str().unwrap();
        let expected = if category.contains("SignInLogs") { RecordKind::Signin } else { RecordKind::Audit };
        assert_eq!(record.record.kind(), expected, "{}: {category}", case["test_name"]);
        if expected == RecordKind::Signin {
            // Every sign-in has an outcome, from `status` or from the envelope's `resultType`,
            // unless `resultType` is not a code (one case says "Success").
            let result_type = &case["log"]["resultType"];
            let numeric =
                result_type.as_i64().is_some() || result_type.as_str().is_some_and(|t| t.parse::<i64>().is_ok());
            let has_status = case["log"]["properties"]["status"]["errorCode"].is_number();
            assert_eq!(
                record.record.as_sign_in().unwrap().error_code().is_some(),
                numeric || has_status,
                "{}",
                case["test_name"]
            );
        }
        assert!(record.record.event_time().is_some(), "{}", case["test_name"]);
    }
    // Device-code phishing case: no `status`, outcome from `resultType: "0"`; audiences given as
    // objects (the schema says strings) are kept verbatim.
    let (_, device_code) = &parsed[2];
    let s = device_code.record.as_sign_in().unwrap();
    assert_eq!(s.authentication_protocol.as_deref(), Some("deviceCode"));
    assert_eq!(s.error_code(), Some(0));
    assert_eq!(s.conditional_access_audiences, None);
    assert!(s.extra["conditionalAccessAudiences"].is_array());
    assert_eq!(device_code.tenant_id.as_deref(), Some("tenant-123"));
    // All-lowercase envelope, numeric `resulttype`, Panther's timestamp spelling.
    let (_, lowercase) = &parsed[11];
    let s = lowercase.record.as_sign_in().unwrap();
    assert_eq!(s.id, "36658c78-02d9-4d8f-84ee-5ca4a3fdefef");
    assert_eq!(s.error_code(), Some(7000215));
    assert_eq!(s.created_date_time, Some(utc("2023-07-26T22:58:30.9832019Z")));
    assert_eq!(lowercase.event_type, Some(SignInEventType::ServicePrincipal));
    assert_eq!(lowercase.tenant_id.as_deref(), Some("a2aa49aa-2c0c-49d2-af87-f402c421df0b"));
    assert!(lowercase.envelope.as_ref().unwrap().contains_key("callerIpAddress"));
    // An audit under a non-standard category (`Policy`) is recognised by its properties.
    let (_, policy) = &parsed[0];
    let a = policy.record.as_audit().unwrap();
    assert_eq!(a.activity_display_name.as_deref(), Some("Update authentication methods policy"));
    assert_eq!(a.initiator_upn(), Some("denethor@lotr.com"));
}

// ---------------------------------------------------------------- schemas: coverage of Microsoft's properties

/// Our struct for a Graph type name, by its property list.
fn property_names(graph_type: &str) -> Option<&'static [&'static str]> {
    use m365mon_model::signin::*;
    use m365mon_model::{AppIdentity, AuditActivityInitiator, KeyValue, LinkableIdentifiers, ModifiedProperty};
    use m365mon_model::{TargetResource, TokenDetails, UserIdentity};
    Some(match graph_type {
        "signIn" => SignIn::PROPERTY_NAMES,
        "directoryAudit" => DirectoryAudit::PROPERTY_NAMES,
        "signInStatus" => SignInStatus::PROPERTY_NAMES,
        "signInLocation" => SignInLocation::PROPERTY_NAMES,
        "geoCoordinates" => GeoCoordinates::PROPERTY_NAMES,
        "deviceDetail" => DeviceDetail::PROPERTY_NAMES,
        "appliedConditionalAccessPolicy" => AppliedConditionalAccessPolicy::PROPERTY_NAMES,
        "authenticationStrength" => AuthenticationStrength::PROPERTY_NAMES,
        "conditionalAccessRuleSatisfied" => ConditionalAccessRuleSatisfied::PROPERTY_NAMES,
        "authenticationAppDeviceDetails" => AuthenticationAppDeviceDetails::PROPERTY_NAMES,
        "authenticationAppPolicyDetails" => AuthenticationAppPolicyDetails::PROPERTY_NAMES,
        "authenticationDetail" => AuthenticationDetail::PROPERTY_NAMES,
        "authenticationRequirementPolicy" => AuthenticationRequirementPolicy::PROPERTY_NAMES,
        "sessionLifetimePolicy" => SessionLifetimePolicy::PROPERTY_NAMES,
        "authenticationContext" => AuthenticationContext::PROPERTY_NAMES,
        "managedIdentity" => ManagedIdentity::PROPERTY_NAMES,
        "mfaDetail" => MfaDetail::PROPERTY_NAMES,
        "networkLocationDetail" => NetworkLocationDetail::PROPERTY_NAMES,
        "privateLinkDetails" => PrivateLinkDetails::PROPERTY_NAMES,
        "tokenProtectionStatusDetails" => TokenProtectionStatusDetails::PROPERTY_NAMES,
        "appliedAuthenticationEventListener" => AppliedAuthenticationEventListener::PROPERTY_NAMES,
        "agentSignIn" => AgentSignIn::PROPERTY_NAMES,
        "keyValue" => KeyValue::PROPERTY_NAMES,
        "auditActivityInitiator" => AuditActivityInitiator::PROPERTY_NAMES,
        "appIdentity" => AppIdentity::PROPERTY_NAMES,
        // `userIdentity` derives from `identity`; beta's `auditUserIdentity` from `userIdentity`.
        "userIdentity" | "identity" | "auditUserIdentity" => UserIdentity::PROPERTY_NAMES,
        "linkableIdentifiers" => LinkableIdentifiers::PROPERTY_NAMES,
        "tokenDetails" => TokenDetails::PROPERTY_NAMES,
        "targetResource" => TargetResource::PROPERTY_NAMES,
        "modifiedProperty" => ModifiedProperty::PROPERTY_NAMES,
        _ => return None,
    })
}

fn assert_covered(source: &str, graph_type: &str, properties: &[String]) {
    let Some(ours) = property_names(graph_type) else {
        panic!("{source}: type {graph_type} has no struct in the model");
    };
    let missing: Vec<_> = properties.iter().filter(|p| !ours.contains(&p.as_str())).collect();
    assert!(missing.is_empty(), "{source}: {graph_type} properties without a typed field: {missing:?}");
}

#[test]
fn public_cloud_property_names_all_have_typed_fields() {
    let Some(dir) = datasets() else { return };
    let text =
        std::fs::read_to_string(dir.join("msgraph-metadata/graph-signin-directoryaudit.property-names.prod.json"))
            .unwrap();
    let names: Value = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for version in ["v1.0", "beta"] {
        for (graph_type, entry) in names[version]["types"].as_object().unwrap() {
            if graph_type == "auditLogRoot" {
                continue; // Navigation properties only: the API's root, not a record type.
            }
            let properties: Vec<String> =
                entry["properties"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
            assert_covered(&format!("property-names {version}"), graph_type, &properties);
            checked += 1;
        }
    }
    assert!(checked >= 40, "checked {checked} types");
}

/// `(type, [property])` from a CSDL excerpt, for entity and complex types.
fn csdl_types(xml: &str) -> Vec<(String, Vec<String>)> {
    let mut types = Vec::new();
    let attribute = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        Some(line[start..].split('"').next()?.to_owned())
    };
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<EntityType ") || line.starts_with("<ComplexType ") {
            types.push((attribute(line, "Name").unwrap(), Vec::new()));
        } else if line.starts_with("<Property ")
            && let Some((_, properties)) = types.last_mut()
        {
            properties.push(attribute(line, "Name").unwrap());
        }
    }
    types
}

#[test]
fn csdl_properties_all_have_typed_fields() {
    let Some(dir) = datasets() else { return };
    for name in [
        "msgraph-metadata/graph-v1.0-signin-directoryaudit.csdl.xml",
        "msgraph-metadata/graph-beta-signin-directoryaudit.csdl.xml",
    ] {
        let xml = std::fs::read_to_string(dir.join(name)).unwrap();
        let types = csdl_types(&xml);
        assert!(types.iter().any(|(t, _)| t == "signIn") && types.iter().any(|(t, _)| t == "directoryAudit"));
        for (graph_type, properties) in types {
            if graph_type == "entity" {
                assert_eq!(properties, ["id"]);
                continue;
            }
            if graph_type == "auditLogRoot" {
                continue;
            }
            assert_covered(name, &graph_type, &properties);
        }
    }
}

#[test]
fn openapi_schemas_agree_with_the_model() {
    let Some(dir) = datasets() else { return };
    for name in [
        "msgraph-metadata/graph-v1.0-signin-directoryaudit.openapi-schemas.json",
        "msgraph-metadata/graph-beta-signin-directoryaudit.openapi-schemas.json",
    ] {
        let document: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let schemas = document["components"]["schemas"].as_object().expect("components.schemas");
        let mut checked = 0;
        for (schema_name, schema) in schemas {
            let graph_type = schema_name.trim_start_matches("microsoft.graph.");
            let mut properties: Vec<String> = Vec::new();
            let parts = schema["allOf"].as_array().cloned().unwrap_or_else(|| vec![schema.clone()]);
            for part in parts {
                if let Some(map) = part["properties"].as_object() {
                    properties.extend(map.keys().filter(|k| !k.starts_with('@')).cloned());
                }
            }
            if properties.is_empty() || graph_type.ends_with("CollectionResponse") || graph_type == "auditLogRoot" {
                continue; // enums, wrappers and the API root
            }
            if graph_type == "entity" {
                assert_eq!(properties, ["id"]);
                continue;
            }
            assert_covered(name, graph_type, &properties);
            checked += 1;
        }
        assert!(checked >= 15, "{name}: checked {checked}");
    }
}

/// Every column of the Log Analytics tables is either mapped to a Graph property or kept in the
/// envelope: a row with every documented column loses nothing.
#[test]
fn log_analytics_columns_are_all_mapped_or_kept() {
    let Some(dir) = datasets() else { return };
    for (table, kind) in [
        ("SigninLogs", Some(RecordKind::Signin)),
        ("AADNonInteractiveUserSignInLogs", Some(RecordKind::Signin)),
        ("AADServicePrincipalSignInLogs", Some(RecordKind::Signin)),
        ("AADManagedIdentitySignInLogs", Some(RecordKind::Signin)),
        ("AuditLogs", Some(RecordKind::Audit)),
        ("MicrosoftGraphActivityLogs", None),
    ] {
        let name = format!("log-analytics-schema/{table}.columns.csv");
        // The column list itself is not records.
        let (items, errors) = read(&dir, &name);
        assert!(items.is_empty() && errors.len() == 1, "{name}: {errors:?}");
        assert!(errors[0].reason.contains("not a Log Analytics export"), "{}", errors[0]);

        let mut csv = ::csv::Reader::from_path(dir.join(&name)).unwrap();
        let columns: Vec<String> = csv.records().map(|r| r.unwrap()[0].to_owned()).collect();
        let mut row = Map::new();
        for (i, column) in columns.iter().enumerate() {
            let value = match column.as_str() {
                "Type" => json!(table),
                "Id" => json!(format!("{table}-1")),
                _ => json!(format!("value {i}")),
            };
            row.insert(column.clone(), value);
        }
        let bytes = serde_json::to_vec(&row).unwrap();
        let parsed = parse_record_detailed(&bytes);
        let Some(kind) = kind else {
            let error = parsed.unwrap_err();
            assert!(error.reason.contains(table), "{table}: {error}");
            continue;
        };
        let parsed = parsed.unwrap_or_else(|e| panic!("{table}: {e}"));
        assert_eq!(parsed.record.kind(), kind, "{table}");
        let graph = match serde_json::to_value(&parsed.record).unwrap() {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let envelope = parsed.envelope.as_deref().unwrap();
        let renamed = |column: &str| match column {
            "LocationDetails" => Some("location"),
            "ConditionalAccessPolicies" => Some("appliedConditionalAccessPolicies"),
            "ResourceIdentity" => Some("resourceId"),
            "ProcessingTimeInMs" => Some("processingTimeInMilliseconds"),
            "AADOperationType" => Some("operationType"),
            _ => None,
        };
        for column in &columns {
            let in_envelope = envelope.contains_key(column);
            let in_graph = graph.keys().any(|k| k.eq_ignore_ascii_case(column))
                || renamed(column).is_some_and(|k| graph.contains_key(k));
            assert!(in_envelope || in_graph, "{table}: column {column} was lost");
        }
        for column in ["ResourceId", "Location", "TenantId", "TimeGenerated"] {
            if columns.iter().any(|c| c == column) {
                assert!(envelope.contains_key(column), "{table}: {column} belongs to the envelope");
            }
        }
    }
}

// ---------------------------------------------------------------- round trips

/// Read → write → read gives the same records, for every record file.
#[test]
fn every_record_survives_a_round_trip() {
    let Some(dir) = datasets() else { return };
    for (name, role) in FILES {
        if !matches!(role, Role::Records(_)) {
            continue;
        }
        for item in records(&dir, name) {
            let json = serde_json::to_vec(&item.record).unwrap();
            let again = parse_record(&json).unwrap_or_else(|e| panic!("{name} record {}: {e}", item.record_number));
            assert_eq!(again, item.record, "{name} record {}", item.record_number);
        }
    }
}

/// For Graph-shaped input, the written JSON equals the input object, up to the documented
/// normalisations (here: `Type` written as `type`).
#[test]
fn graph_shaped_records_are_written_back_as_they_came() {
    let Some(dir) = datasets() else { return };
    for name in [
        "graph-docs-examples/v1.0_signin-list_example1.response.json",
        "graph-docs-examples/beta_signin-list_example1_failed-password.response.json",
        "graph-docs-examples/beta_signin-list_example2_nextLink.response.json",
        "graph-docs-examples/v1.0_directoryaudit-list_example1.response.json",
        "graph-docs-examples/v1.0_directoryaudit-list_example2_filter-initiatedBy.response.json",
        "wazuh/graph_events.directoryAudits.json",
    ] {
        let page: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let items = records(&dir, name);
        for (input, item) in page["value"].as_array().unwrap().iter().zip(&items) {
            let mut expected = input.clone();
            normalise_key_case(&mut expected);
            let written = serde_json::to_value(&item.record).unwrap();
            assert_eq!(written, expected, "{name} record {}", item.record_number);
        }
    }
}

/// The one key-case normalisation the Graph examples need: `targetResources[].Type` → `type`.
fn normalise_key_case(value: &mut Value) {
    if let Some(targets) = value.get_mut("targetResources").and_then(Value::as_array_mut) {
        for target in targets {
            if let Some(map) = target.as_object_mut()
                && let Some(kind) = map.remove("Type")
            {
                map.insert("type".to_owned(), kind);
            }
        }
    }
}

/// Event Hub records: the Graph record written back equals `properties`, plus only what the
/// envelope filled in (documented), with timestamps in Graph's spelling.
#[test]
fn event_hub_properties_are_written_back_with_documented_additions_only() {
    let Some(dir) = datasets() else { return };
    let name = "elastic-integrations/signinlogs/test-signinlogs-sample.log";
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    for (line, item) in text.lines().zip(records(&dir, name)) {
        let input: Value = serde_json::from_str(line).unwrap();
        let mut expected = input["properties"].clone();
        let map = expected.as_object_mut().unwrap();
        let time = m365mon_model::time::parse_timestamp(map["createdDateTime"].as_str().unwrap()).unwrap();
        map.insert("createdDateTime".to_owned(), json!(m365mon_model::time::format_graph_timestamp(&time)));
        for step in map["authenticationDetails"].as_array_mut().unwrap() {
            let time =
                m365mon_model::time::parse_timestamp(step["authenticationStepDateTime"].as_str().unwrap()).unwrap();
            step["authenticationStepDateTime"] = json!(m365mon_model::time::format_graph_timestamp(&time));
        }
        // Filled from the category: the sample predates `signInEventTypes`.
        map.entry("signInEventTypes").or_insert(json!(["interactiveUser"]));
        let written = serde_json::to_value(&item.record).unwrap();
        assert_eq!(written, expected, "{name} line {}", item.record_number);
    }
}
