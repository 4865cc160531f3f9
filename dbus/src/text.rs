//! Texts both clients show the same way.

/// A length of time for people: `45 s`, `2 min 5 s`, `3 h 20 min`.
pub fn duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(60), "1 min 0 s");
        assert_eq!(duration(125), "2 min 5 s");
        assert_eq!(duration(1205), "20 min 5 s");
        assert_eq!(duration(3600), "1 h 0 min");
        assert_eq!(duration(3 * 3600 + 125), "3 h 2 min");
        assert_eq!(duration(12_000), "3 h 20 min");
    }
}
