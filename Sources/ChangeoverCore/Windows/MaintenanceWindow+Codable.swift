import Foundation

/// YAML/JSON forms.
///
/// Decodes either a string in one of the ``MaintenanceWindow/parse(_:)`` forms or an object
/// `{day: sunday, start: "22:00", duration: 90m, zone: Europe/Berlin}`, where `duration`
/// defaults to 4 h and `zone` to UTC. Errors are `DecodingError.dataCorrupted` whose
/// `debugDescription` is the ``WindowError`` text and whose `underlyingError` is the
/// ``WindowError``. Encodes the object form.
extension MaintenanceWindow: Codable {
    private enum Key: String, CodingKey, CaseIterable {
        case day, start, duration, zone
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(),
            let text = try? single.decode(String.self)
        {
            do {
                self = try Self.parse(text)
            } catch {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath, debugDescription: error.description,
                        underlyingError: error))
            }
            return
        }
        let container = try decoder.container(keyedBy: Key.self)
        let dayText = try container.decode(String.self, forKey: .day)
        let startText = try container.decode(String.self, forKey: .start)
        let durationText = try container.decodeIfPresent(String.self, forKey: .duration)
        let zoneText = try container.decodeIfPresent(String.self, forKey: .zone)

        let spec =
            "{day: \(dayText), start: \(startText)"
            + (durationText.map { ", duration: \($0)" } ?? "")
            + (zoneText.map { ", zone: \($0)" } ?? "") + "}"
        func fail(_ error: WindowError, _ key: Key) -> DecodingError {
            .dataCorrupted(
                .init(
                    codingPath: container.codingPath + [key], debugDescription: error.description,
                    underlyingError: error))
        }
        guard let day = Day(name: dayText) else {
            throw fail(
                WindowError(
                    .badDay, "bad day \"\(dayText)\" in \"\(spec)\" (use monday…sunday)"),
                .day)
        }
        let hour: Int
        let minute: Int
        do { (hour, minute) = try Self.parseTime(startText, spec: spec) } catch {
            throw fail(error, .start)
        }
        var duration = Self.defaultDuration
        if let durationText {
            do { duration = try Self.parseDuration(durationText, spec: spec) } catch {
                throw fail(error, .duration)
            }
        }
        var zone: TimeZone?
        if let zoneText {
            do { zone = try Self.parseZone(zoneText, spec: spec) } catch {
                throw fail(error, .zone)
            }
        }
        do {
            self = try Self.make(
                day: day, hour: hour, minute: minute, duration: duration, zone: zone, spec: spec)
        } catch {
            throw fail(error, .duration)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(day.description, forKey: .day)
        try container.encode(startText, forKey: .start)
        try container.encode(WindowDurationText.format(duration), forKey: .duration)
        try container.encode(WindowZoneNames.displayName(of: timeZone), forKey: .zone)
    }
}
