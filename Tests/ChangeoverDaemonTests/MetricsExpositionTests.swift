import ChangeoverLab
import Testing

@testable import ChangeoverDaemon

/// The exposition checker (what stands in for `promtool check metrics`) rejects each mistake it
/// is there to catch, and passes what `MetricsText` writes.
@Suite struct MetricsExpositionTests {
    static let valid = """
        # HELP changeover_up Whether the daemon runs.
        # TYPE changeover_up gauge
        changeover_up 1
        # HELP changeover_retries_total Retries.
        # TYPE changeover_retries_total counter
        changeover_retries_total 3
        # HELP changeover_pause_seconds Pauses.
        # TYPE changeover_pause_seconds histogram
        changeover_pause_seconds_bucket{step="fence",le="0.1"} 1
        changeover_pause_seconds_bucket{step="fence",le="1"} 2
        changeover_pause_seconds_bucket{step="fence",le="+Inf"} 2
        changeover_pause_seconds_sum{step="fence"} 0.6
        changeover_pause_seconds_count{step="fence"} 2

        """

    @Test func aValidScrapePasses() {
        #expect(PrometheusExposition.problems(in: Self.valid) == [])
        #expect(PrometheusExposition.samples(in: Self.valid)?.count == 7)
    }

    @Test(arguments: [
        ("a label value with a space", "changeover_up 1", "changeover_up{state=\"in flight\"} 1", "holds whitespace"),
        (
            "a series per changeover", "changeover_up 1", "changeover_up{changeover=\"c-20261207-abc\"} 1",
            "per changeover"
        ),
        (
            "a series twice", "changeover_retries_total 3", "changeover_retries_total 3\nchangeover_retries_total 4",
            "twice"
        ),
        (
            "a counter without _total", "# TYPE changeover_retries_total counter",
            "# TYPE changeover_retries_total counter\n# TYPE changeover_retries counter", "does not end in _total"
        ),
        ("a negative counter", "changeover_retries_total 3", "changeover_retries_total -3", "negative"),
        ("no +Inf bucket", "changeover_pause_seconds_bucket{step=\"fence\",le=\"+Inf\"} 2\n", "", "no +Inf bucket"),
        ("falling buckets", "le=\"1\"} 2", "le=\"1\"} 0", "bucket counts fall"),
        (
            "a count unlike +Inf", "changeover_pause_seconds_count{step=\"fence\"} 2",
            "changeover_pause_seconds_count{step=\"fence\"} 5", "is not the +Inf bucket"
        ),
        ("no sum", "changeover_pause_seconds_sum{step=\"fence\"} 0.6\n", "", "no _sum"),
        ("a bad escape", "changeover_up 1", "changeover_up{database=\"a\\qb\"} 1", "not a sample"),
        ("no value", "changeover_up 1", "changeover_up", "not a sample"),
        ("a bad name", "changeover_up 1", "changeover-up 1", "not a sample"),
        (
            "samples apart", "changeover_pause_seconds_count{step=\"fence\"} 2",
            "changeover_pause_seconds_count{step=\"fence\"} 2\nchangeover_up{x=\"y\"} 1", "not together"
        ),
    ])
    func eachMistakeIsRejected(_ mistake: String, _ find: String, _ replace: String, _ problem: String) {
        let text = Self.valid.replacingOccurrences(of: find, with: replace)
        #expect(text != Self.valid, "the mistake was not made: \(mistake)")
        let found = PrometheusExposition.problems(in: text)
        #expect(found.contains { $0.contains(problem) }, "\(mistake): \(found)")
    }

    @Test func whatMetricsTextWritesPasses() {
        var text = MetricsText()
        var histogram = Histogram(bounds: Histogram.pauseBounds)
        for value in [0.004, 0.03, 0.07, 12] { histogram.observe(value) }
        text.gauge(
            "changeover_changeovers_by_state", "By state.",
            [(["state": MetricsText.labelValue("rollback unfinished")], 1)])
        text.histogram("changeover_write_pause_seconds", "Pauses.", [([:], histogram)])
        text.histogram(
            "changeover_step_duration_seconds", "Steps.",
            [(["step": "fence"], histogram), (["step": "promote"], Histogram(bounds: [1]))])
        #expect(PrometheusExposition.problems(in: text.text) == [], "\(text.text)")
        #expect(text.text.contains("state=\"rollback_unfinished\""))
        #expect(text.text.contains("changeover_write_pause_seconds_bucket{le=\"0.05\"} 2\n"))
        #expect(text.text.contains("changeover_write_pause_seconds_bucket{le=\"+Inf\"} 4\n"))
        #expect(text.text.contains("changeover_write_pause_seconds_count 4\n"))
    }
}
