//! Numbers Linux publishes in /proc (`net.core.somaxconn`,
//! `vm.max_map_count`, ...), which servers size themselves by.

/// The number in the /proc file at `path`, where it can be read (`None`
/// elsewhere, as on systems without it).
pub fn read(path: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_missing_file_is_no_number() {
        assert_eq!(super::read("/proc/sys/no/such/setting"), None);
    }
}
