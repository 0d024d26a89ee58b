//! Static tables the synthetic tenants are built from: cities with real coordinates and time
//! zones, names, Microsoft first-party applications (their public, well-known app ids), directory
//! role templates, and the benign audit activities.
//!
//! IP addresses are synthetic: each city has an invented public-looking prefix so that an address
//! maps back to one place, as a geo-IP database would. They are not real allocations.

/// A place sign-ins can come from.
#[derive(Debug, Clone, Copy)]
pub struct City {
    pub name: &'static str,
    pub state: &'static str,
    /// ISO 3166-1 alpha-2, as Graph's `countryOrRegion`.
    pub country: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    /// IANA time zone.
    pub tz: &'static str,
    /// First two octets of the synthetic addresses placed here.
    pub ip_prefix: [u8; 2],
    /// Autonomous system announced for those addresses.
    pub asn: u32,
    /// 0 Europe, 1 North America, 2 Asia-Pacific, 9 elsewhere (never a home city).
    pub region: u8,
}

macro_rules! city {
    ($n:expr, $s:expr, $c:expr, $lat:expr, $lon:expr, $tz:expr, $a:expr, $b:expr, $asn:expr, $r:expr) => {
        City {
            name: $n,
            state: $s,
            country: $c,
            latitude: $lat,
            longitude: $lon,
            tz: $tz,
            ip_prefix: [$a, $b],
            asn: $asn,
            region: $r,
        }
    };
}

pub const CITIES: &[City] = &[
    // Europe
    city!("London", "England", "GB", 51.5072, -0.1276, "Europe/London", 81, 2, 2856, 0),
    city!("Manchester", "England", "GB", 53.4808, -2.2426, "Europe/London", 86, 14, 5089, 0),
    city!("Edinburgh", "Scotland", "GB", 55.9533, -3.1883, "Europe/London", 92, 40, 2856, 0),
    city!("Dublin", "Dublin", "IE", 53.3498, -6.2603, "Europe/Dublin", 89, 101, 5466, 0),
    city!("Lisbon", "Lisboa", "PT", 38.7223, -9.1393, "Europe/Lisbon", 85, 240, 3243, 0),
    city!("Amsterdam", "Noord-Holland", "NL", 52.3676, 4.9041, "Europe/Amsterdam", 77, 160, 1136, 0),
    city!("Paris", "Ile-de-France", "FR", 48.8566, 2.3522, "Europe/Paris", 90, 84, 3215, 0),
    city!("Berlin", "Berlin", "DE", 52.5200, 13.4050, "Europe/Berlin", 91, 64, 3320, 0),
    city!("Munich", "Bayern", "DE", 48.1351, 11.5820, "Europe/Berlin", 93, 104, 3320, 0),
    city!("Madrid", "Madrid", "ES", 40.4168, -3.7038, "Europe/Madrid", 83, 44, 3352, 0),
    city!("Stockholm", "Stockholms lan", "SE", 59.3293, 18.0686, "Europe/Stockholm", 78, 69, 3301, 0),
    city!("Warsaw", "Mazowieckie", "PL", 52.2297, 21.0122, "Europe/Warsaw", 83, 24, 5617, 0),
    city!("Zurich", "Zurich", "CH", 47.3769, 8.5417, "Europe/Zurich", 84, 72, 3303, 0),
    city!("Brussels", "Brussels", "BE", 50.8503, 4.3517, "Europe/Brussels", 81, 82, 5432, 0),
    // North America
    city!("New York", "New York", "US", 40.7128, -74.0060, "America/New_York", 68, 173, 7922, 1),
    city!("Boston", "Massachusetts", "US", 42.3601, -71.0589, "America/New_York", 73, 38, 7922, 1),
    city!("Chicago", "Illinois", "US", 41.8781, -87.6298, "America/Chicago", 98, 213, 7018, 1),
    city!("Seattle", "Washington", "US", 47.6062, -122.3321, "America/Los_Angeles", 67, 183, 7922, 1),
    city!("Redmond", "Washington", "US", 47.6740, -122.1215, "America/Los_Angeles", 131, 107, 3598, 1),
    city!("San Francisco", "California", "US", 37.7749, -122.4194, "America/Los_Angeles", 76, 21, 7018, 1),
    city!("Austin", "Texas", "US", 30.2672, -97.7431, "America/Chicago", 70, 112, 11427, 1),
    city!("Denver", "Colorado", "US", 39.7392, -104.9903, "America/Denver", 75, 166, 7922, 1),
    city!("Toronto", "Ontario", "CA", 43.6532, -79.3832, "America/Toronto", 99, 224, 577, 1),
    city!("Atlanta", "Georgia", "US", 33.7490, -84.3880, "America/New_York", 108, 81, 7018, 1),
    // Asia-Pacific
    city!("Sydney", "New South Wales", "AU", -33.8688, 151.2093, "Australia/Sydney", 101, 160, 1221, 2),
    city!("Melbourne", "Victoria", "AU", -37.8136, 144.9631, "Australia/Melbourne", 110, 144, 1221, 2),
    city!("Brisbane", "Queensland", "AU", -27.4698, 153.0251, "Australia/Brisbane", 120, 150, 4804, 2),
    city!("Auckland", "Auckland", "NZ", -36.8485, 174.7633, "Pacific/Auckland", 122, 56, 9790, 2),
    city!("Singapore", "Singapore", "SG", 1.3521, 103.8198, "Asia/Singapore", 116, 86, 9506, 2),
    city!("Tokyo", "Tokyo", "JP", 35.6762, 139.6503, "Asia/Tokyo", 126, 20, 2516, 2),
    // Elsewhere: travel, attackers, hosting
    city!("Sao Paulo", "Sao Paulo", "BR", -23.5505, -46.6333, "America/Sao_Paulo", 177, 32, 28573, 9),
    city!("Lagos", "Lagos", "NG", 6.5244, 3.3792, "Africa/Lagos", 105, 112, 29465, 9),
    city!("Moscow", "Moscow", "RU", 55.7558, 37.6173, "Europe/Moscow", 95, 165, 12389, 9),
    city!("Beijing", "Beijing", "CN", 39.9042, 116.4074, "Asia/Shanghai", 123, 112, 4808, 9),
    city!("Mumbai", "Maharashtra", "IN", 19.0760, 72.8777, "Asia/Kolkata", 117, 196, 9829, 9),
    city!("Johannesburg", "Gauteng", "ZA", -26.2041, 28.0473, "Africa/Johannesburg", 102, 65, 3741, 9),
    city!("Dubai", "Dubai", "AE", 25.2048, 55.2708, "Asia/Dubai", 94, 200, 5384, 9),
    city!("Hong Kong", "Hong Kong", "HK", 22.3193, 114.1694, "Asia/Hong_Kong", 113, 252, 4760, 9),
    city!("Bucharest", "Bucuresti", "RO", 44.4268, 26.1025, "Europe/Bucharest", 86, 120, 8708, 9),
    city!("Kyiv", "Kyiv City", "UA", 50.4501, 30.5234, "Europe/Kyiv", 91, 196, 15895, 9),
    city!("Hanoi", "Hanoi", "VN", 21.0278, 105.8342, "Asia/Ho_Chi_Minh", 14, 160, 45899, 9),
    city!("Frankfurt am Main", "Hessen", "DE", 50.1109, 8.6821, "Europe/Berlin", 185, 220, 24940, 9),
    city!("Ashburn", "Virginia", "US", 39.0438, -77.4874, "America/New_York", 44, 192, 14618, 9),
    city!("Tehran", "Tehran", "IR", 35.6892, 51.3890, "Asia/Tehran", 5, 160, 58224, 9),
    city!("Havana", "La Habana", "CU", 23.1136, -82.3666, "America/Havana", 152, 206, 27725, 9),
    city!("Pyongyang", "Pyongyang", "KP", 39.0392, 125.7625, "Asia/Pyongyang", 175, 45, 131279, 9),
    city!("Damascus", "Damascus", "SY", 33.5138, 36.2765, "Asia/Damascus", 82, 137, 29256, 9),
];

/// Index of a city by name (the tables are fixed, so a missing name is a programming error that
/// tests catch).
pub fn city_index(name: &str) -> usize {
    CITIES.iter().position(|c| c.name == name).unwrap_or(0)
}

/// Great-circle distance in kilometres.
pub fn distance_km(a: &City, b: &City) -> f64 {
    let (la1, lo1, la2, lo2) =
        (a.latitude.to_radians(), a.longitude.to_radians(), b.latitude.to_radians(), b.longitude.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2) + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

pub const GIVEN_NAMES: &[&str] = &[
    "Adele",
    "Alex",
    "Allan",
    "Amara",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Daniel",
    "Diego",
    "Elena",
    "Emily",
    "Fatima",
    "Grady",
    "Hana",
    "Henrietta",
    "Isaiah",
    "Ivan",
    "Jana",
    "Johanna",
    "Joni",
    "Kenji",
    "Laura",
    "Lee",
    "Lidia",
    "Lynne",
    "Megan",
    "Miriam",
    "Nestor",
    "Noah",
    "Olga",
    "Patti",
    "Pradeep",
    "Priya",
    "Rafael",
    "Sara",
    "Tomasz",
    "Wei",
    "Zoe",
];

pub const SURNAMES: &[&str] = &[
    "Vance",
    "Wilber",
    "Deyoung",
    "Okafor",
    "Walker",
    "Rossi",
    "Mendes",
    "Wang",
    "Martin",
    "Novak",
    "Garcia",
    "Petrova",
    "Clarke",
    "Haddad",
    "Archie",
    "Sato",
    "Kensington",
    "Brown",
    "Ivanov",
    "Horak",
    "Lauer",
    "Sherman",
    "Tanaka",
    "Giordano",
    "Gomes",
    "Holloway",
    "Robinson",
    "Bowen",
    "Kowalski",
    "Torres",
    "Fischer",
    "Nilsson",
    "Fernandez",
    "Gupta",
    "Patel",
    "Silva",
    "Davis",
    "Nowak",
    "Li",
    "Becker",
];

/// A tenant identity (fictitious company names, as in Microsoft's own documentation).
#[derive(Debug, Clone, Copy)]
pub struct Company {
    pub display_name: &'static str,
    pub domain_label: &'static str,
    /// Cities (by name) where most staff live; the first is the head office.
    pub home_cities: &'static [&'static str],
    pub region: u8,
}

pub const COMPANIES: &[Company] = &[
    Company {
        display_name: "Contoso",
        domain_label: "contoso",
        home_cities: &["London", "Manchester", "Edinburgh", "Dublin", "Lisbon"],
        region: 0,
    },
    Company {
        display_name: "Fabrikam",
        domain_label: "fabrikam",
        home_cities: &["New York", "Boston", "Chicago", "Atlanta", "Toronto"],
        region: 1,
    },
    Company {
        display_name: "Northwind Traders",
        domain_label: "northwindtraders",
        home_cities: &["Amsterdam", "Brussels", "Paris", "Berlin", "Zurich"],
        region: 0,
    },
    Company {
        display_name: "Tailspin Toys",
        domain_label: "tailspintoys",
        home_cities: &["Seattle", "Redmond", "San Francisco", "Denver", "Austin"],
        region: 1,
    },
    Company {
        display_name: "Woodgrove Bank",
        domain_label: "woodgrovebank",
        home_cities: &["Sydney", "Melbourne", "Brisbane", "Auckland", "Singapore"],
        region: 2,
    },
    Company {
        display_name: "Adventure Works",
        domain_label: "adventureworks",
        home_cities: &["Madrid", "Lisbon", "Paris", "Munich", "Warsaw"],
        region: 0,
    },
    Company {
        display_name: "Litware",
        domain_label: "litware",
        home_cities: &["Stockholm", "Warsaw", "Berlin", "Amsterdam", "London"],
        region: 0,
    },
    Company {
        display_name: "Wide World Importers",
        domain_label: "wideworldimporters",
        home_cities: &["Tokyo", "Singapore", "Sydney", "Seattle", "San Francisco"],
        region: 2,
    },
];

/// A client application users sign in with (public first-party app ids).
#[derive(Debug, Clone, Copy)]
pub struct ClientApp {
    pub display_name: &'static str,
    pub app_id: &'static str,
    /// The resource it usually talks to (index into [`RESOURCES`]).
    pub resource: usize,
    /// `clientAppUsed`.
    pub client_app_used: &'static str,
}

pub const APP_OFFICE: usize = 0;
pub const APP_OUTLOOK: usize = 1;
pub const APP_TEAMS: usize = 2;
pub const APP_ONEDRIVE: usize = 3;
pub const APP_PORTAL: usize = 4;
pub const APP_OFFICE_WEB: usize = 5;
pub const APP_BROKER: usize = 6;
pub const APP_EXCHANGE_LEGACY: usize = 7;
pub const APP_AZURE_CLI: usize = 8;
pub const APP_AZURE_POWERSHELL: usize = 9;
pub const APP_GRAPH_EXPLORER: usize = 10;

pub const CLIENT_APPS: &[ClientApp] = &[
    ClientApp {
        display_name: "Microsoft Office",
        app_id: "d3590ed6-52b3-4102-aeff-aad2292ab01c",
        resource: 2,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "Microsoft Outlook",
        app_id: "5d661950-3475-41cd-a2c3-d671a3162bc1",
        resource: 1,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "Microsoft Teams",
        app_id: "1fec8e78-bce4-4aaf-ab1b-5451cc387264",
        resource: 5,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "OneDrive SyncEngine",
        app_id: "ab9b8c07-8f02-4f72-87fa-80105867a763",
        resource: 3,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "Azure Portal",
        app_id: "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
        resource: 4,
        client_app_used: "Browser",
    },
    ClientApp {
        display_name: "OfficeHome",
        app_id: "4765445b-32c6-49b0-83e6-1d93765276ca",
        resource: 0,
        client_app_used: "Browser",
    },
    ClientApp {
        display_name: "Microsoft Authentication Broker",
        app_id: "29d9ed98-a469-4536-ade2-f981bc1d605e",
        resource: 6,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "Office 365 Exchange Online",
        app_id: "00000002-0000-0ff1-ce00-000000000000",
        resource: 1,
        client_app_used: "IMAP4",
    },
    ClientApp {
        display_name: "Microsoft Azure CLI",
        app_id: "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        resource: 0,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "Microsoft Azure PowerShell",
        app_id: "1950a258-227b-4e31-a9cf-717495945fc2",
        resource: 0,
        client_app_used: "Mobile Apps and Desktop clients",
    },
    ClientApp {
        display_name: "Graph Explorer",
        app_id: "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
        resource: 0,
        client_app_used: "Browser",
    },
];

/// A resource (API) a sign-in asks a token for.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub display_name: &'static str,
    pub resource_id: &'static str,
}

pub const RESOURCES: &[Resource] = &[
    Resource { display_name: "Microsoft Graph", resource_id: "00000003-0000-0000-c000-000000000000" },
    Resource { display_name: "Office 365 Exchange Online", resource_id: "00000002-0000-0ff1-ce00-000000000000" },
    Resource { display_name: "Office 365 SharePoint Online", resource_id: "00000003-0000-0ff1-ce00-000000000000" },
    Resource { display_name: "OneDrive", resource_id: "00000003-0000-0ff1-ce00-000000000000" },
    Resource {
        display_name: "Windows Azure Service Management API",
        resource_id: "797f4846-ba00-4fd7-ba43-dac1f8f63013",
    },
    Resource { display_name: "Microsoft Teams Services", resource_id: "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe" },
    Resource { display_name: "Windows Azure Active Directory", resource_id: "00000002-0000-0000-c000-000000000000" },
    Resource { display_name: "Azure Key Vault", resource_id: "cfa8b339-82a2-471a-a3c9-0fc0be7a4093" },
    Resource { display_name: "Azure Storage", resource_id: "e406a681-f3d4-42a8-90b6-c2b029497af1" },
];

pub const RESOURCE_KEY_VAULT: usize = 7;
pub const RESOURCE_STORAGE: usize = 8;

/// Kinds of device a user owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    WindowsLaptop,
    MacBook,
    IPhone,
    Android,
}

impl DeviceKind {
    pub fn operating_system(self) -> &'static str {
        match self {
            DeviceKind::WindowsLaptop => "Windows 10",
            DeviceKind::MacBook => "MacOs",
            DeviceKind::IPhone => "Ios",
            DeviceKind::Android => "Android",
        }
    }

    pub fn browser(self) -> &'static str {
        match self {
            DeviceKind::WindowsLaptop => "Edge 131.0.0",
            DeviceKind::MacBook => "Safari 18.1",
            DeviceKind::IPhone => "Mobile Safari 18.1",
            DeviceKind::Android => "Chrome Mobile 131.0.6778",
        }
    }

    pub fn user_agent(self) -> &'static str {
        match self {
            DeviceKind::WindowsLaptop => {
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"
            }
            DeviceKind::MacBook => {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15"
            }
            DeviceKind::IPhone => {
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
            }
            DeviceKind::Android => {
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36"
            }
        }
    }

    /// The user agent a desktop or mobile client app sends when it refreshes tokens.
    pub fn client_user_agent(self) -> &'static str {
        match self {
            DeviceKind::WindowsLaptop => "Windows-AzureAD-Authentication-Provider/1.0",
            DeviceKind::MacBook => "Mac OS X/15.1 (24B83) MSAL/1.2.21",
            DeviceKind::IPhone => "Outlook-iOS/728.5233403.prod.iphone (4.2447.0)",
            DeviceKind::Android => "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240905.003)",
        }
    }

    pub fn trust_type(self) -> &'static str {
        match self {
            DeviceKind::WindowsLaptop => "Azure AD joined",
            DeviceKind::MacBook => "Azure AD registered",
            DeviceKind::IPhone | DeviceKind::Android => "Azure AD registered",
        }
    }

    pub fn name_prefix(self) -> &'static str {
        match self {
            DeviceKind::WindowsLaptop => "LT",
            DeviceKind::MacBook => "MBP",
            DeviceKind::IPhone => "iPhone",
            DeviceKind::Android => "Pixel",
        }
    }
}

/// A directory role template (public, well-known template ids).
#[derive(Debug, Clone, Copy)]
pub struct RoleTemplate {
    pub display_name: &'static str,
    pub template_id: &'static str,
    pub description: &'static str,
}

pub const ROLE_GLOBAL_ADMIN: usize = 0;
pub const ROLE_PRIVILEGED_ROLE_ADMIN: usize = 1;
pub const ROLE_SECURITY_ADMIN: usize = 2;
pub const ROLE_EXCHANGE_ADMIN: usize = 3;
pub const ROLE_USER_ADMIN: usize = 4;
pub const ROLE_HELPDESK_ADMIN: usize = 5;
pub const ROLE_GLOBAL_READER: usize = 6;

pub const ROLE_TEMPLATES: &[RoleTemplate] = &[
    RoleTemplate {
        display_name: "Global Administrator",
        template_id: "62e90394-69f5-4237-9190-012177145e10",
        description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    },
    RoleTemplate {
        display_name: "Privileged Role Administrator",
        template_id: "e8611ab8-c189-46e8-94e1-60213ab1f814",
        description: "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
    },
    RoleTemplate {
        display_name: "Security Administrator",
        template_id: "194ae4cb-b126-40b2-bd5b-6091b380977d",
        description: "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
    },
    RoleTemplate {
        display_name: "Exchange Administrator",
        template_id: "29232cdf-9323-42fd-ade2-1d097af3e4de",
        description: "Can manage all aspects of the Exchange product.",
    },
    RoleTemplate {
        display_name: "User Administrator",
        template_id: "fe930be7-5e62-47db-91af-98c3a49a38b1",
        description: "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    },
    RoleTemplate {
        display_name: "Helpdesk Administrator",
        template_id: "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        description: "Can reset passwords for non-administrators and Helpdesk Administrators.",
    },
    RoleTemplate {
        display_name: "Global Reader",
        template_id: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        description: "Can read everything that a Global Administrator can, but not update anything.",
    },
];

/// Groups benign audit activity adds people to.
pub const GROUPS: &[&str] = &[
    "All Staff",
    "Sales",
    "Finance",
    "Engineering",
    "Marketing",
    "Project Falcon",
    "London Office",
    "VPN Users",
    "Printers",
];

/// Background service principals (apps of the tenant that sign in with their own credentials).
pub const SERVICE_APPS: &[(&str, u32)] = &[
    // (display name, minutes between sign-ins)
    ("Backup Service", 60),
    ("HR Sync Connector", 30),
    ("Contract Archiver", 120),
    ("Invoice Processor", 15),
    ("Intranet Search Crawler", 20),
    ("Ticketing Integration", 10),
];

/// Background managed identities (Azure resources reaching Key Vault or Storage).
pub const MANAGED_IDENTITIES: &[(&str, &str, u32, usize)] = &[
    // (display name, resource kind path, minutes, resource index)
    ("func-orders-prod", "Microsoft.Web/sites", 15, RESOURCE_KEY_VAULT),
    ("vm-reporting-01", "Microsoft.Compute/virtualMachines", 30, RESOURCE_STORAGE),
    ("logic-approvals", "Microsoft.Logic/workflows", 20, RESOURCE_KEY_VAULT),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_consistent() {
        for company in COMPANIES {
            for name in company.home_cities {
                assert!(CITIES.iter().any(|c| c.name == *name), "{name}");
            }
        }
        for city in CITIES {
            assert!(city.tz.parse::<chrono_tz::Tz>().is_ok(), "{}", city.tz);
            assert_eq!(city.country.len(), 2);
        }
        for app in CLIENT_APPS {
            assert!(app.resource < RESOURCES.len());
        }
    }

    #[test]
    fn distances_are_real() {
        let london = &CITIES[city_index("London")];
        let sydney = &CITIES[city_index("Sydney")];
        let paris = &CITIES[city_index("Paris")];
        assert!((distance_km(london, paris) - 344.0).abs() < 10.0);
        assert!((distance_km(london, sydney) - 16_990.0).abs() < 100.0);
    }
}
