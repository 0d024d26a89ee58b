//! Great-circle distance between two sign-in locations.

/// Mean Earth radius (IUGG), kilometres.
const EARTH_RADIUS_KM: f64 = 6_371.008_8;

/// Half the Earth's circumference: no two places are farther apart.
pub(crate) const MAX_DISTANCE_KM: f64 = 20_037.5;

/// Haversine distance in kilometres between two (latitude, longitude) points in degrees.
pub(crate) fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// Whether coordinates are usable: finite, in range, and not "null island" (0, 0), which
/// geolocation services return when they know nothing.
pub(crate) fn usable(lat: f64, lon: f64) -> bool {
    lat.is_finite()
        && lon.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lon)
        && !(lat.abs() < 1e-6 && lon.abs() < 1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // Berlin – Paris is about 878 km; London – Sydney about 16,990 km.
        let d = distance_km(52.52, 13.405, 48.8566, 2.3522);
        assert!((d - 878.0).abs() < 5.0, "{d}");
        let d = distance_km(51.5074, -0.1278, -33.8688, 151.2093);
        assert!((d - 16_990.0).abs() < 30.0, "{d}");
        assert_eq!(distance_km(10.0, 10.0, 10.0, 10.0), 0.0);
        assert!(distance_km(0.0, 0.0, 0.0, 180.0) <= MAX_DISTANCE_KM);
    }

    #[test]
    fn null_island_and_nonsense_are_not_locations() {
        assert!(!usable(0.0, 0.0));
        assert!(!usable(f64::NAN, 1.0));
        assert!(!usable(91.0, 1.0));
        assert!(usable(0.0, 1.0));
    }
}
