import ChangeoverLab
import Foundation
import Testing

@testable import ChangeoverCore

/// The fence reads `global/pg_control` itself instead of spawning `pg_controldata`: both must
/// say the same of a real cluster, running and shut down, and a damaged file must not be read.
@Suite struct ControlFileTests {
    @Test func directReadAgreesWithPgControldata() async throws {
        let lab = try Lab()
        do {
            let primary = try await lab.startPrimary()
            let server = LocalPostgres(
                binDirectory: lab.binDirectory, dataDirectory: primary.dataDirectory, runAs: lab.runAs)
            let keys = ["Database cluster state", "Latest checkpoint location"]
            for expectedState in ["in production", "shut down"] {
                if expectedState == "shut down" { try await server.stop(timeout: .seconds(30)) }
                let direct = try #require(ControlFile.read("\(primary.dataDirectory)/global/pg_control"))
                let tool = try await server.controlDataFromTool()
                #expect(direct["Database cluster state"] == expectedState)
                for key in keys { #expect(direct[key] == tool[key], "\(key)") }
            }
            var bytes = [UInt8](
                try Data(contentsOf: URL(fileURLWithPath: "\(primary.dataDirectory)/global/pg_control")))
            #expect(ControlFile.parse(bytes) != nil)
            bytes[33] ^= 0x01  // inside the checkpoint location: the CRC no longer matches
            #expect(ControlFile.parse(bytes) == nil)
            bytes[33] ^= 0x01
            bytes[8] = 0x99  // an unknown pg_control_version: left to pg_controldata
            #expect(ControlFile.parse(bytes) == nil)
            #expect(ControlFile.parse(Array(bytes.prefix(20))) == nil)
            #expect(ControlFile.parse([]) == nil)
        } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
    }
}
