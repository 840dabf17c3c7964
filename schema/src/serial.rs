//! Zone serial numbers and RFC 1982 serial-number arithmetic: the one place where "newer" is decided,
//! for the serials a zone gets (`next_serial`) and the serials a name server reports (`serial_reached`).

/// The next zone serial: `max(now, serial + 1)`, where "greater" is sequence-space comparison, so the
/// serial never goes backwards even if the clock does, and wraps correctly past 2^32.
pub fn next_serial(current: u32, now_unix_secs: u32) -> u32 {
    let plus_one = current.wrapping_add(1);
    // `now` wins only if it is strictly ahead of `current + 1` in sequence space.
    if is_ahead(now_unix_secs, plus_one) {
        now_unix_secs
    } else {
        plus_one
    }
}

/// Whether `served` is at or past `wanted` in sequence space: a name server serving `served` serves
/// every change up to `wanted`.
pub fn serial_reached(served: u32, wanted: u32) -> bool {
    served == wanted || is_ahead(served, wanted)
}

/// RFC 1982 §3.2: `a` is greater than `b` when the distance from `b` to `a` is below half the space.
fn is_ahead(a: u32, b: u32) -> bool {
    let diff = a.wrapping_sub(b);
    diff != 0 && diff < (1 << 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_takes_the_clock_when_it_is_ahead() {
        assert_eq!(next_serial(100, 5000), 5000);
    }

    #[test]
    fn serial_grows_by_one_when_the_clock_is_behind_or_equal() {
        assert_eq!(next_serial(5000, 5000), 5001);
        assert_eq!(next_serial(5000, 10), 5001);
        assert_eq!(next_serial(5000, 5001), 5001);
    }

    #[test]
    fn serial_wraps_in_sequence_space() {
        assert_eq!(next_serial(u32::MAX, 3), 3);
        assert_eq!(next_serial(u32::MAX, u32::MAX - 10), 0);
    }

    #[test]
    fn reached_compares_in_sequence_space() {
        assert!(serial_reached(5, 5));
        assert!(serial_reached(6, 5));
        assert!(!serial_reached(4, 5));
        assert!(serial_reached(2, u32::MAX));
        assert!(!serial_reached(u32::MAX, 2));
        // Exactly half the space apart is undefined by RFC 1982; it never counts as reached.
        assert!(!serial_reached(1 << 31, 0));
    }
}
