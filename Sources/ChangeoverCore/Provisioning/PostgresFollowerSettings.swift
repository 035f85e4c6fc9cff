/// Settings every provisioner gives a Postgres follower on its command line.
public enum PostgresFollowerSettings {
    public static let standby: [String: String] = [
        // Once the fenced primary is gone the standby cycles through its WAL sources and may
        // sleep this long before it notices a promotion (5 s by default: seen as a 5 s promotion
        // about once in ten changeovers in containers).
        "wal_retrieve_retry_interval": "50ms",
        // A reply to the primary at least every second, even with nothing to report: catch-up
        // takes a follower whose last reply is older than 3 s for one behind a stalled link.
        "wal_receiver_status_interval": "1s",
    ]
}
