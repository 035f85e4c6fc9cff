import Foundation
import Testing

@testable import ChangeoverCore

/// The ssh provisioner's config keys, and bad input about them in one line each.
@Suite struct SSHProvisionerConfigTests {
    static let valid = """
        stateDirectory: /var/lib/changeover
        provisioner:
          kind: ssh
          user: deploy
          identity: /etc/changeover/id_ed25519
          knownHosts: /etc/changeover/known_hosts
          runAs: postgres
          service: systemd
          placement: {zone: same}
          hosts:
            - {name: db-a, address: 10.0.1.11, labels: {zone: eu-1a}}
            - {name: db-b, address: 10.0.1.12, port: 2222, labels: {zone: eu-1a}, root: /srv/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /opt/pg15-patched/bin}
        databases:
          orders:
            image: pg15
            primary: "host=10.0.1.11 port=5432 user=postgres dbname=postgres"
            password: {env: ORDERS_PASSWORD}
        """

    @Test func parsesAnSSHConfig() throws {
        let config = try FleetConfig.parse(Self.valid)
        #expect(
            try FleetConfig.parse(
                Self.valid.replacingOccurrences(of: "root: /srv/nodes}", with: "root: /srv/nodes, service: none}")
            )
            .provisioner.ssh?.hosts[1].service == FleetConfig.ProvisionerConfig.Service.none)
        #expect(config.provisioner.kind == .ssh)
        #expect(config.provisioner.service == .systemd)
        let ssh = try #require(config.provisioner.ssh)
        #expect(
            ssh.user == "deploy" && ssh.identity == "/etc/changeover/id_ed25519"
                && ssh.knownHosts == "/etc/changeover/known_hosts")
        #expect(ssh.placement == ["zone": "same"])
        #expect(ssh.hosts.map(\.name) == ["db-a", "db-b"])
        #expect(ssh.hosts[1].port == 2222 && ssh.hosts[1].root == "/srv/nodes" && ssh.hosts[0].port == 22)
        let plain = try FleetConfig.parse(Self.valid.replacingOccurrences(of: "  service: systemd\n", with: ""))
        #expect(plain.provisioner.service == .auto)
    }

    @Test(arguments: [
        (
            "  service: systemd\n", "  service: debian-cluster\n",
            "provisioner.service: the ssh provisioner makes a follower a server in its node (auto, none) or with a systemd unit of its own (systemd), not a Debian cluster"
        ),
        (
            "  service: systemd\n", "  service: upstart\n",
            "provisioner: unknown service \"upstart\" (known: auto, none, systemd)"
        ),
        (
            "labels: {zone: eu-1a}, root: /srv/nodes}",
            "labels: {zone: eu-1a}, root: /srv/nodes, service: debian-cluster}",
            "provisioner.hosts[1].service: the ssh provisioner makes a follower a server in its node"
        ),
        (
            "labels: {zone: eu-1a}, root: /srv/nodes}", "labels: {zone: eu-1a}, root: /srv/nodes, servce: none}",
            "servce"
        ),
        (
            "    - {name: db-b, address: 10.0.1.12, port: 2222, labels: {zone: eu-1a}, root: /srv/nodes}\n", "",
            "the ssh provisioner needs provisioner.hosts, at least two"
        ),
        (
            "name: db-b, address: 10.0.1.12", "name: db-a, address: 10.0.1.13",
            "provisioner.hosts: host db-a (10.0.1.13) is listed twice"
        ),
        (
            "  knownHosts: /etc/changeover/known_hosts\n", "",
            "the ssh provisioner needs provisioner.identity (a private key) and provisioner.knownHosts"
        ),
        (
            "pg15-patched: {binDirectory: /opt/pg15-patched/bin}", "pg15-patched: {docker: {image: x}}",
            "image pg15-patched: the ssh provisioner needs binDirectory"
        ),
    ])
    func badSSHInputIsOneLine(_ replaced: String, _ replacement: String, _ expected: String) {
        let text = Self.valid.replacingOccurrences(of: replaced, with: replacement)
        #expect(text != Self.valid)
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "f.yaml") }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "no error")")
        #expect(error?.description.contains("\n") == false)
    }

    /// The follower goes on the first host that is not the primary's and meets the placement;
    /// with `service: systemd` the plan says it gets a unit of its own.
    @Test func placementNamesTheHostAndTheUnit() throws {
        let config = try FleetConfig.parse(Self.valid)
        let ssh = try #require(config.provisioner.ssh)
        let provisioner = SSHProvisioner(
            hosts: ssh.hosts,
            login: SSHLogin(
                user: ssh.user, identity: ssh.identity, knownHosts: ssh.knownHosts,
                controlDirectory: "/tmp/unused"),
            root: config.provisioner.root, runAs: "postgres", placement: ssh.placement,
            primaryAddress: "10.0.1.11", service: config.provisioner.service)
        #expect(provisioner.followerHost().host?.name == "db-b")
        #expect(
            provisioner.followerPlacement(changeover: "orders-1", engine: .postgres)
                == "on host db-b (10.0.1.12) in /srv/nodes/orders-1/data, started at boot by a unit of its own (changeover-orders-1.service)"
        )
        var other = provisioner
        // A host's own `service:` overrides the provisioner's.
        var plain = provisioner
        plain.hosts[1].service = FleetConfig.ProvisionerConfig.Service.none
        #expect(
            plain.followerPlacement(changeover: "orders-1", engine: .postgres)
                == "on host db-b (10.0.1.12) in /srv/nodes/orders-1/data")
        other.placement = ["zone": "other"]
        #expect(other.followerHost().host == nil)
        #expect(
            other.followerHost().why
                == "no host of provisioner.hosts is not the primary's host db-a, zone other than the primary's eu-1a")
    }
}
