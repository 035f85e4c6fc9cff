import Foundation

/// An instant written in ISO 8601 UTC, e.g. `utc("2026-03-29T01:00:00Z")`.
func utc(_ text: String) -> Date {
    try! Date(text, strategy: .iso8601)
}

func zone(_ identifier: String) -> TimeZone {
    TimeZone(identifier: identifier)!
}

func hours(_ count: Int) -> Duration { .seconds(count * 3600) }
func minutes(_ count: Int) -> Duration { .seconds(count * 60) }
