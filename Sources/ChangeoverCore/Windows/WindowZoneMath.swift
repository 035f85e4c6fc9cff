import Foundation

/// Wall-clock arithmetic without `Calendar`.
///
/// Local times are handled as "local seconds": seconds since 1970-01-01 00:00 *as if the zone
/// were UTC*. Day numbers count days since 1970-01-01 (a Thursday) in the proleptic Gregorian
/// calendar, which is what the IANA database uses. The only zone query is
/// `TimeZone.secondsFromGMT(for:)`, which is cheap (~100 ns) and allocation-free, so nothing has
/// to be cached per zone and no `Calendar` is created per call.
///
/// `Calendar.date(from:)` is not used for the conversion because its answer in a spring-forward
/// gap is the nominal time shifted by the gap (02:30 → 03:30 in Europe/Berlin), not the first
/// instant after the gap that ``MaintenanceWindow`` promises.
enum WindowZoneMath {
    static let secondsPerDay = 86_400

    static func floorDiv(_ a: Int, _ b: Int) -> Int {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func floorMod(_ a: Int, _ b: Int) -> Int { a - floorDiv(a, b) * b }

    /// Day number of a Gregorian calendar date (H. Hinnant's `days_from_civil`).
    static func dayNumber(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func isLeap(_ year: Int) -> Bool {
        (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// ISO weekday of a day number: 1 = Monday … 7 = Sunday.
    static func isoWeekday(ofDay day: Int) -> Int { floorMod(day + 3, 7) + 1 }

    @inline(__always)
    static func offset(_ zone: TimeZone, at instant: Double) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: instant))
    }

    /// The local day number that `instant` falls on in `zone`.
    static func localDay(of instant: Double, in zone: TimeZone) -> Int {
        let local = (instant + Double(offset(zone, at: instant))).rounded(.down)
        return floorDiv(Int(local), secondsPerDay)
    }

    /// The instant (seconds since 1970 UTC) at which the wall clock in `zone` shows `local`.
    ///
    /// - A wall time that occurs twice (fall back) resolves to its first occurrence.
    /// - A wall time that does not exist (spring forward) resolves to the first instant after
    ///   the gap, i.e. the transition itself (02:30 in a 02:00→03:00 gap becomes 03:00).
    ///
    /// Assumes at most one offset change in the day either side of `local`.
    static func instant(ofLocal local: Int, in zone: TimeZone) -> Double {
        let wall = Double(local)
        let before = offset(zone, at: wall - Double(secondsPerDay))
        let after = offset(zone, at: wall + Double(secondsPerDay))
        if before == after { return wall - Double(before) }

        let underBefore = wall - Double(before)
        let underAfter = wall - Double(after)
        let beforeFits = offset(zone, at: underBefore) == before
        let afterFits = offset(zone, at: underAfter) == after
        switch (beforeFits, afterFits) {
        case (true, true): return min(underBefore, underAfter)  // repeated: first occurrence
        case (true, false): return underBefore
        case (false, true): return underAfter
        case (false, false):
            // Gap: the offset grew from `before` to `after`. Find the transition instant,
            // the first second whose offset is no longer `before`.
            var low = min(underBefore, underAfter)  // still `before`
            var high = max(underBefore, underAfter)  // already changed
            guard offset(zone, at: low) == before, offset(zone, at: high) != before else {
                return wall - Double(before)
            }
            while high - low > 1 {
                let middle = ((low + high) / 2).rounded(.down)
                if offset(zone, at: middle) == before { low = middle } else { high = middle }
            }
            return high
        }
    }
}

/// Time zone names as operators write them.
enum WindowZoneNames {
    /// Lower-cased IANA identifier → identifier, for names typed in the wrong case.
    private static let byLowercasedName: [String: String] = {
        var names: [String: String] = ["utc": "UTC", "gmt": "GMT", "z": "UTC"]
        for identifier in TimeZone.knownTimeZoneIdentifiers {
            names[identifier.lowercased()] = identifier
        }
        return names
    }()

    static func zone(named name: String) -> TimeZone? {
        if let zone = TimeZone(identifier: name) { return zone }
        if let identifier = byLowercasedName[name.lowercased()] {
            return TimeZone(identifier: identifier)
        }
        return nil
    }

    /// The name to print: Foundation calls UTC "GMT"; operators wrote "UTC".
    static func displayName(of zone: TimeZone) -> String {
        zone.identifier == "GMT" ? "UTC" : zone.identifier
    }
}
