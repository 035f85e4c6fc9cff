/// The waves of a campaign, as `--waves staging,canary:5%,production` gives them.
///
/// A wave named like a tier (the `tier` label of the databases in the inventory) takes the
/// databases of that tier still to be changed over; with a share (`production:10%`) it takes that
/// share of them and leaves the rest to a later wave of the same tier. A wave with a share whose
/// name is no tier (`canary:5%`) is a sample: that share of the databases the later waves would
/// take, picked spread over them, so that a small part of production goes first.
public struct CampaignWave: Sendable, Equatable, Codable {
    public var name: String
    /// Percent, in (0, 100]; nil takes all.
    public var share: Double?

    public init(name: String, share: Double? = nil) {
        self.name = name
        self.share = share
    }

    public var text: String {
        guard let share else { return name }
        return "\(name):\(share == share.rounded() ? String(Int(share)) : String(share))%"
    }

    /// Parses the `--waves` list; a one-line error names the bad part.
    public static func parse(_ text: String) throws(CampaignError) -> [CampaignWave] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw CampaignError("--waves is empty: give waves like staging,canary:5%,production")
        }
        var waves: [CampaignWave] = []
        for (index, part) in parts.enumerated() {
            guard !part.isEmpty else { throw CampaignError("--waves: wave \(index + 1) is empty in \"\(text)\"") }
            let pieces = part.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let name = pieces[0]
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." })
            else {
                throw CampaignError("--waves: bad wave name \"\(name)\" in \"\(part)\" (letters, digits, - _ . only)")
            }
            var share: Double?
            if pieces.count == 2 {
                let percent = pieces[1]
                guard percent.hasSuffix("%"), let value = Double(percent.dropLast()), value.isFinite else {
                    throw CampaignError(
                        "--waves: wave \(name) has share \"\(percent)\", which is not a percentage like 5%")
                }
                guard value > 0, value <= 100 else {
                    throw CampaignError("--waves: wave \(name) has share \(percent), outside 0% (excluded) to 100%")
                }
                share = value
            }
            if waves.contains(where: { $0.name == name && $0.share == nil }) {
                throw CampaignError("--waves: wave \(name) comes again after a wave \(name) that takes all of it")
            }
            waves.append(CampaignWave(name: name, share: share))
        }
        return waves
    }
}

public struct CampaignError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
