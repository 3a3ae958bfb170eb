//! ISO 3166-1 alpha-2 codes → English country name and continent.
//!
//! GeoIP databases give a country code; the flat `@ip-location-db` layout gives nothing
//! else, and the MaxMind layout's localized `names` maps would cost a map decode per
//! lookup. So names come from this compiled table, as `&'static str`, and are the same
//! whichever database is loaded. The names and continent assignments are the English
//! ones that MaxMind GeoLite2 uses (and so Elasticsearch's `geoip` processor and ECS
//! examples): "United States", "Russia" in Europe, `XK` for Kosovo. The table holds the
//! 249 officially assigned ISO 3166-1 codes plus `XK`.

/// A continent, with the two-letter codes and English names that MaxMind and ECS use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Continent {
    /// `AF`
    Africa,
    /// `AN`
    Antarctica,
    /// `AS`
    Asia,
    /// `EU`
    Europe,
    /// `NA`
    NorthAmerica,
    /// `OC`
    Oceania,
    /// `SA`
    SouthAmerica,
}

impl Continent {
    /// Every continent, in code order.
    pub const ALL: [Continent; 7] = [
        Continent::Africa,
        Continent::Antarctica,
        Continent::Asia,
        Continent::Europe,
        Continent::NorthAmerica,
        Continent::Oceania,
        Continent::SouthAmerica,
    ];

    /// English name, as in ECS `geo.continent_name`.
    pub const fn name(self) -> &'static str {
        match self {
            Continent::Africa => "Africa",
            Continent::Antarctica => "Antarctica",
            Continent::Asia => "Asia",
            Continent::Europe => "Europe",
            Continent::NorthAmerica => "North America",
            Continent::Oceania => "Oceania",
            Continent::SouthAmerica => "South America",
        }
    }

    /// Two-letter code, as in MaxMind's `continent.code`.
    pub const fn code(self) -> &'static str {
        match self {
            Continent::Africa => "AF",
            Continent::Antarctica => "AN",
            Continent::Asia => "AS",
            Continent::Europe => "EU",
            Continent::NorthAmerica => "NA",
            Continent::Oceania => "OC",
            Continent::SouthAmerica => "SA",
        }
    }

    /// The continent with this two-letter code (ASCII case-insensitive).
    pub fn from_code(code: &str) -> Option<Continent> {
        Continent::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code))
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, upper case.
    pub code: &'static str,
    /// English short name.
    pub name: &'static str,
    /// Continent the country is assigned to.
    pub continent: Continent,
}

/// The country with this alpha-2 code (ASCII case-insensitive), if assigned.
pub fn country(code: &str) -> Option<Country> {
    let &[a, b] = code.as_bytes() else {
        return None;
    };
    let key = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
    COUNTRIES
        .binary_search_by(|(c, _, _)| c.as_bytes().cmp(&key[..]))
        .ok()
        .and_then(|i| COUNTRIES.get(i))
        .map(|&(code, name, continent)| Country {
            code,
            name,
            continent,
        })
}

/// English continent name for a MaxMind continent code (`EU` → "Europe").
pub fn continent_name(code: &str) -> Option<&'static str> {
    Continent::from_code(code).map(Continent::name)
}

/// Sorted by code, so that [`country`] can binary-search it.
static COUNTRIES: [(&str, &str, Continent); 250] = [
    ("AD", "Andorra", Continent::Europe),
    ("AE", "United Arab Emirates", Continent::Asia),
    ("AF", "Afghanistan", Continent::Asia),
    ("AG", "Antigua and Barbuda", Continent::NorthAmerica),
    ("AI", "Anguilla", Continent::NorthAmerica),
    ("AL", "Albania", Continent::Europe),
    ("AM", "Armenia", Continent::Asia),
    ("AO", "Angola", Continent::Africa),
    ("AQ", "Antarctica", Continent::Antarctica),
    ("AR", "Argentina", Continent::SouthAmerica),
    ("AS", "American Samoa", Continent::Oceania),
    ("AT", "Austria", Continent::Europe),
    ("AU", "Australia", Continent::Oceania),
    ("AW", "Aruba", Continent::NorthAmerica),
    ("AX", "Åland Islands", Continent::Europe),
    ("AZ", "Azerbaijan", Continent::Asia),
    ("BA", "Bosnia and Herzegovina", Continent::Europe),
    ("BB", "Barbados", Continent::NorthAmerica),
    ("BD", "Bangladesh", Continent::Asia),
    ("BE", "Belgium", Continent::Europe),
    ("BF", "Burkina Faso", Continent::Africa),
    ("BG", "Bulgaria", Continent::Europe),
    ("BH", "Bahrain", Continent::Asia),
    ("BI", "Burundi", Continent::Africa),
    ("BJ", "Benin", Continent::Africa),
    ("BL", "Saint Barthélemy", Continent::NorthAmerica),
    ("BM", "Bermuda", Continent::NorthAmerica),
    ("BN", "Brunei", Continent::Asia),
    ("BO", "Bolivia", Continent::SouthAmerica),
    (
        "BQ",
        "Bonaire, Sint Eustatius, and Saba",
        Continent::NorthAmerica,
    ),
    ("BR", "Brazil", Continent::SouthAmerica),
    ("BS", "Bahamas", Continent::NorthAmerica),
    ("BT", "Bhutan", Continent::Asia),
    ("BV", "Bouvet Island", Continent::Antarctica),
    ("BW", "Botswana", Continent::Africa),
    ("BY", "Belarus", Continent::Europe),
    ("BZ", "Belize", Continent::NorthAmerica),
    ("CA", "Canada", Continent::NorthAmerica),
    ("CC", "Cocos (Keeling) Islands", Continent::Asia),
    ("CD", "DR Congo", Continent::Africa),
    ("CF", "Central African Republic", Continent::Africa),
    ("CG", "Congo Republic", Continent::Africa),
    ("CH", "Switzerland", Continent::Europe),
    ("CI", "Ivory Coast", Continent::Africa),
    ("CK", "Cook Islands", Continent::Oceania),
    ("CL", "Chile", Continent::SouthAmerica),
    ("CM", "Cameroon", Continent::Africa),
    ("CN", "China", Continent::Asia),
    ("CO", "Colombia", Continent::SouthAmerica),
    ("CR", "Costa Rica", Continent::NorthAmerica),
    ("CU", "Cuba", Continent::NorthAmerica),
    ("CV", "Cabo Verde", Continent::Africa),
    ("CW", "Curaçao", Continent::NorthAmerica),
    ("CX", "Christmas Island", Continent::Oceania),
    ("CY", "Cyprus", Continent::Europe),
    ("CZ", "Czechia", Continent::Europe),
    ("DE", "Germany", Continent::Europe),
    ("DJ", "Djibouti", Continent::Africa),
    ("DK", "Denmark", Continent::Europe),
    ("DM", "Dominica", Continent::NorthAmerica),
    ("DO", "Dominican Republic", Continent::NorthAmerica),
    ("DZ", "Algeria", Continent::Africa),
    ("EC", "Ecuador", Continent::SouthAmerica),
    ("EE", "Estonia", Continent::Europe),
    ("EG", "Egypt", Continent::Africa),
    ("EH", "Western Sahara", Continent::Africa),
    ("ER", "Eritrea", Continent::Africa),
    ("ES", "Spain", Continent::Europe),
    ("ET", "Ethiopia", Continent::Africa),
    ("FI", "Finland", Continent::Europe),
    ("FJ", "Fiji", Continent::Oceania),
    ("FK", "Falkland Islands", Continent::SouthAmerica),
    ("FM", "Federated States of Micronesia", Continent::Oceania),
    ("FO", "Faroe Islands", Continent::Europe),
    ("FR", "France", Continent::Europe),
    ("GA", "Gabon", Continent::Africa),
    ("GB", "United Kingdom", Continent::Europe),
    ("GD", "Grenada", Continent::NorthAmerica),
    ("GE", "Georgia", Continent::Asia),
    ("GF", "French Guiana", Continent::SouthAmerica),
    ("GG", "Guernsey", Continent::Europe),
    ("GH", "Ghana", Continent::Africa),
    ("GI", "Gibraltar", Continent::Europe),
    ("GL", "Greenland", Continent::NorthAmerica),
    ("GM", "Gambia", Continent::Africa),
    ("GN", "Guinea", Continent::Africa),
    ("GP", "Guadeloupe", Continent::NorthAmerica),
    ("GQ", "Equatorial Guinea", Continent::Africa),
    ("GR", "Greece", Continent::Europe),
    (
        "GS",
        "South Georgia and the South Sandwich Islands",
        Continent::Antarctica,
    ),
    ("GT", "Guatemala", Continent::NorthAmerica),
    ("GU", "Guam", Continent::Oceania),
    ("GW", "Guinea-Bissau", Continent::Africa),
    ("GY", "Guyana", Continent::SouthAmerica),
    ("HK", "Hong Kong", Continent::Asia),
    ("HM", "Heard and McDonald Islands", Continent::Antarctica),
    ("HN", "Honduras", Continent::NorthAmerica),
    ("HR", "Croatia", Continent::Europe),
    ("HT", "Haiti", Continent::NorthAmerica),
    ("HU", "Hungary", Continent::Europe),
    ("ID", "Indonesia", Continent::Asia),
    ("IE", "Ireland", Continent::Europe),
    ("IL", "Israel", Continent::Asia),
    ("IM", "Isle of Man", Continent::Europe),
    ("IN", "India", Continent::Asia),
    ("IO", "British Indian Ocean Territory", Continent::Asia),
    ("IQ", "Iraq", Continent::Asia),
    ("IR", "Iran", Continent::Asia),
    ("IS", "Iceland", Continent::Europe),
    ("IT", "Italy", Continent::Europe),
    ("JE", "Jersey", Continent::Europe),
    ("JM", "Jamaica", Continent::NorthAmerica),
    ("JO", "Jordan", Continent::Asia),
    ("JP", "Japan", Continent::Asia),
    ("KE", "Kenya", Continent::Africa),
    ("KG", "Kyrgyzstan", Continent::Asia),
    ("KH", "Cambodia", Continent::Asia),
    ("KI", "Kiribati", Continent::Oceania),
    ("KM", "Comoros", Continent::Africa),
    ("KN", "St Kitts and Nevis", Continent::NorthAmerica),
    ("KP", "North Korea", Continent::Asia),
    ("KR", "South Korea", Continent::Asia),
    ("KW", "Kuwait", Continent::Asia),
    ("KY", "Cayman Islands", Continent::NorthAmerica),
    ("KZ", "Kazakhstan", Continent::Asia),
    ("LA", "Laos", Continent::Asia),
    ("LB", "Lebanon", Continent::Asia),
    ("LC", "Saint Lucia", Continent::NorthAmerica),
    ("LI", "Liechtenstein", Continent::Europe),
    ("LK", "Sri Lanka", Continent::Asia),
    ("LR", "Liberia", Continent::Africa),
    ("LS", "Lesotho", Continent::Africa),
    ("LT", "Lithuania", Continent::Europe),
    ("LU", "Luxembourg", Continent::Europe),
    ("LV", "Latvia", Continent::Europe),
    ("LY", "Libya", Continent::Africa),
    ("MA", "Morocco", Continent::Africa),
    ("MC", "Monaco", Continent::Europe),
    ("MD", "Moldova", Continent::Europe),
    ("ME", "Montenegro", Continent::Europe),
    ("MF", "Saint Martin", Continent::NorthAmerica),
    ("MG", "Madagascar", Continent::Africa),
    ("MH", "Marshall Islands", Continent::Oceania),
    ("MK", "North Macedonia", Continent::Europe),
    ("ML", "Mali", Continent::Africa),
    ("MM", "Myanmar", Continent::Asia),
    ("MN", "Mongolia", Continent::Asia),
    ("MO", "Macao", Continent::Asia),
    ("MP", "Northern Mariana Islands", Continent::Oceania),
    ("MQ", "Martinique", Continent::NorthAmerica),
    ("MR", "Mauritania", Continent::Africa),
    ("MS", "Montserrat", Continent::NorthAmerica),
    ("MT", "Malta", Continent::Europe),
    ("MU", "Mauritius", Continent::Africa),
    ("MV", "Maldives", Continent::Asia),
    ("MW", "Malawi", Continent::Africa),
    ("MX", "Mexico", Continent::NorthAmerica),
    ("MY", "Malaysia", Continent::Asia),
    ("MZ", "Mozambique", Continent::Africa),
    ("NA", "Namibia", Continent::Africa),
    ("NC", "New Caledonia", Continent::Oceania),
    ("NE", "Niger", Continent::Africa),
    ("NF", "Norfolk Island", Continent::Oceania),
    ("NG", "Nigeria", Continent::Africa),
    ("NI", "Nicaragua", Continent::NorthAmerica),
    ("NL", "The Netherlands", Continent::Europe),
    ("NO", "Norway", Continent::Europe),
    ("NP", "Nepal", Continent::Asia),
    ("NR", "Nauru", Continent::Oceania),
    ("NU", "Niue", Continent::Oceania),
    ("NZ", "New Zealand", Continent::Oceania),
    ("OM", "Oman", Continent::Asia),
    ("PA", "Panama", Continent::NorthAmerica),
    ("PE", "Peru", Continent::SouthAmerica),
    ("PF", "French Polynesia", Continent::Oceania),
    ("PG", "Papua New Guinea", Continent::Oceania),
    ("PH", "Philippines", Continent::Asia),
    ("PK", "Pakistan", Continent::Asia),
    ("PL", "Poland", Continent::Europe),
    ("PM", "Saint Pierre and Miquelon", Continent::NorthAmerica),
    ("PN", "Pitcairn Islands", Continent::Oceania),
    ("PR", "Puerto Rico", Continent::NorthAmerica),
    ("PS", "Palestine", Continent::Asia),
    ("PT", "Portugal", Continent::Europe),
    ("PW", "Palau", Continent::Oceania),
    ("PY", "Paraguay", Continent::SouthAmerica),
    ("QA", "Qatar", Continent::Asia),
    ("RE", "Réunion", Continent::Africa),
    ("RO", "Romania", Continent::Europe),
    ("RS", "Serbia", Continent::Europe),
    ("RU", "Russia", Continent::Europe),
    ("RW", "Rwanda", Continent::Africa),
    ("SA", "Saudi Arabia", Continent::Asia),
    ("SB", "Solomon Islands", Continent::Oceania),
    ("SC", "Seychelles", Continent::Africa),
    ("SD", "Sudan", Continent::Africa),
    ("SE", "Sweden", Continent::Europe),
    ("SG", "Singapore", Continent::Asia),
    ("SH", "Saint Helena", Continent::Africa),
    ("SI", "Slovenia", Continent::Europe),
    ("SJ", "Svalbard and Jan Mayen", Continent::Europe),
    ("SK", "Slovakia", Continent::Europe),
    ("SL", "Sierra Leone", Continent::Africa),
    ("SM", "San Marino", Continent::Europe),
    ("SN", "Senegal", Continent::Africa),
    ("SO", "Somalia", Continent::Africa),
    ("SR", "Suriname", Continent::SouthAmerica),
    ("SS", "South Sudan", Continent::Africa),
    ("ST", "São Tomé and Príncipe", Continent::Africa),
    ("SV", "El Salvador", Continent::NorthAmerica),
    ("SX", "Sint Maarten", Continent::NorthAmerica),
    ("SY", "Syria", Continent::Asia),
    ("SZ", "Eswatini", Continent::Africa),
    ("TC", "Turks and Caicos Islands", Continent::NorthAmerica),
    ("TD", "Chad", Continent::Africa),
    ("TF", "French Southern Territories", Continent::Antarctica),
    ("TG", "Togo", Continent::Africa),
    ("TH", "Thailand", Continent::Asia),
    ("TJ", "Tajikistan", Continent::Asia),
    ("TK", "Tokelau", Continent::Oceania),
    ("TL", "Timor-Leste", Continent::Oceania),
    ("TM", "Turkmenistan", Continent::Asia),
    ("TN", "Tunisia", Continent::Africa),
    ("TO", "Tonga", Continent::Oceania),
    ("TR", "Türkiye", Continent::Asia),
    ("TT", "Trinidad and Tobago", Continent::NorthAmerica),
    ("TV", "Tuvalu", Continent::Oceania),
    ("TW", "Taiwan", Continent::Asia),
    ("TZ", "Tanzania", Continent::Africa),
    ("UA", "Ukraine", Continent::Europe),
    ("UG", "Uganda", Continent::Africa),
    ("UM", "U.S. Outlying Islands", Continent::Oceania),
    ("US", "United States", Continent::NorthAmerica),
    ("UY", "Uruguay", Continent::SouthAmerica),
    ("UZ", "Uzbekistan", Continent::Asia),
    ("VA", "Vatican City", Continent::Europe),
    ("VC", "St Vincent and Grenadines", Continent::NorthAmerica),
    ("VE", "Venezuela", Continent::SouthAmerica),
    ("VG", "British Virgin Islands", Continent::NorthAmerica),
    ("VI", "U.S. Virgin Islands", Continent::NorthAmerica),
    ("VN", "Vietnam", Continent::Asia),
    ("VU", "Vanuatu", Continent::Oceania),
    ("WF", "Wallis and Futuna", Continent::Oceania),
    ("WS", "Samoa", Continent::Oceania),
    ("XK", "Kosovo", Continent::Europe),
    ("YE", "Yemen", Continent::Asia),
    ("YT", "Mayotte", Continent::Africa),
    ("ZA", "South Africa", Continent::Africa),
    ("ZM", "Zambia", Continent::Africa),
    ("ZW", "Zimbabwe", Continent::Africa),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        for (a, b) in COUNTRIES.iter().zip(COUNTRIES.iter().skip(1)) {
            assert!(a.0 < b.0, "{} before {}", a.0, b.0);
        }
        for (code, name, _) in COUNTRIES.iter() {
            assert_eq!(code.len(), 2);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            assert!(!name.is_empty());
        }
        assert_eq!(COUNTRIES.len(), 250);
    }

    #[test]
    fn well_known_countries() {
        let cases = [
            ("US", "United States", "North America"),
            ("DE", "Germany", "Europe"),
            ("GB", "United Kingdom", "Europe"),
            ("JP", "Japan", "Asia"),
            ("AU", "Australia", "Oceania"),
            ("BR", "Brazil", "South America"),
            ("ZA", "South Africa", "Africa"),
            ("AQ", "Antarctica", "Antarctica"),
            ("RU", "Russia", "Europe"),
            ("XK", "Kosovo", "Europe"),
        ];
        for (code, name, continent) in cases {
            let c = country(code).expect(code);
            assert_eq!(
                (c.code, c.name, c.continent.name()),
                (code, name, continent)
            );
        }
    }

    #[test]
    fn lookups_are_case_insensitive_and_reject_junk() {
        assert_eq!(country("nl").map(|c| c.code), Some("NL"));
        assert_eq!(country("ZZ"), None);
        assert_eq!(country("USA"), None);
        assert_eq!(country(""), None);
        assert_eq!(country("é"), None);
        assert_eq!(continent_name("eu"), Some("Europe"));
        assert_eq!(continent_name("NA"), Some("North America"));
        assert_eq!(continent_name("XX"), None);
    }

    #[test]
    fn continent_codes_round_trip() {
        for c in Continent::ALL {
            assert_eq!(Continent::from_code(c.code()), Some(c));
        }
    }
}
