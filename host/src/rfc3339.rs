//! RFC 3339 times, as image configs and attestations write them.

/// RFC 3339 UTC time for `secs` since the epoch (`1970-01-01T00:00:00Z` for
/// a time `time` cannot represent).
pub fn format(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Seconds since the epoch of an RFC 3339 time (a config's `created`);
/// `None` for a malformed time or one before 1970.
pub fn parse(s: &str) -> Option<u64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::format(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::format(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::parse("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(super::parse("1969-12-31T23:59:59Z"), None);
        assert_eq!(super::format(u64::MAX), "1970-01-01T00:00:00Z");
    }
}
