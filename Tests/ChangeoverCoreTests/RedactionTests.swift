import PostgresClient
import Testing

@testable import ChangeoverCore
@testable import Redaction

/// The one set of password rules, as the conninfo parser, the configuration's errors and the
/// audit log use it.
@Suite struct RedactionTests {
    @Test func passwordParametersAreMaskedInPlace() {
        #expect(
            Redaction.maskingPasswords(in: "host=db password=s3cret port=5432") == "host=db password=******** port=5432"
        )
        #expect(Redaction.maskingPasswords(in: "PassWord = s3cret") == "PassWord = ********")
        #expect(Redaction.maskingPasswords(in: "sslpassword=s3cret") == "sslpassword=********")
        // Quoted, with an escaped quote inside: the whole quoted value goes.
        #expect(Redaction.maskingPasswords(in: #"password='it\'s secret' user=x"#) == "password=******** user=x")
        // A value ends at a double quote: the text around it is a message quoting it.
        #expect(
            Redaction.maskingPasswords(in: #"unknown key "password=s3cret""#) == #"unknown key "password=********""#)
    }

    @Test func passwordsOfURLsAreMasked() {
        #expect(Redaction.maskingPasswords(in: "postgres://u:pw@h/db") == "postgres://u:********@h/db")
        #expect(Redaction.maskingPasswords(in: "redis://:pw@h:6379") == "redis://:********@h:6379")
        // The last "@" of the word ends the password (a password may hold an "@").
        #expect(Redaction.maskingPasswords(in: "postgresql://u:p@ss@h x") == "postgresql://u:********@h x")
        #expect(Redaction.maskingPasswords(in: "postgres://u@h/db") == "postgres://u@h/db")
    }

    @Test func textWithoutPasswordsIsUnchanged() {
        for text in ["host=db port=5432", "password", "the password is wrong", "http://h:80/x", ""] {
            #expect(Redaction.maskingPasswords(in: text) == text)
        }
    }

    @Test func keysNamingSecretsAreSecret() {
        for key in ["password", "Replication_Token", "clientSecret", "sslpassword", "yaml.password"] {
            #expect(Redaction.isSecretKey(key), "\(key)")
        }
        for key in ["lease.token", "port", "user", "slot"] {
            #expect(!Redaction.isSecretKey(key), "\(key)")
        }
    }

    @Test func inlinePasswordsAreFoundForTheAuditLog() {
        #expect(Redaction.containsInlinePassword("host=db1 password=s3cr3t"))
        #expect(Redaction.containsInlinePassword("PASSWORD='x'"))
        #expect(!Redaction.containsInlinePassword("password= not set"))
        #expect(!Redaction.containsInlinePassword("password="))
        #expect(!Redaction.containsInlinePassword("host=db1"))
    }

    @Test func passwordsOfARejectedConninfoAreMaskedInLibpqsMessage() {
        let input = "postgresql://u:pa ss@h/db?password=other"
        let message = #"invalid URI query parameter: "password=other" in "postgresql://u:pa ss@h/db""#
        let masked = Redaction.masking(passwordsIn: input, from: message)
        #expect(masked?.contains("other") == false)
        #expect(masked?.contains("pa ss") == false)
        #expect(masked?.contains(Redaction.mask) == true)
        // Too many places a password could be: nothing of the message is shown.
        #expect(Redaction.masking(passwordsIn: String(repeating: "password=x ", count: 20), from: "x") == nil)
    }

    @Test func everyRedactorUsesTheseRules() throws {
        let info = try ConnInfo("host=h password=s3cret sslpassword=k3y")
        #expect(info.description.contains("password=\(Redaction.mask)"))
        #expect(info.description.contains("sslpassword=\(Redaction.mask)"))
        #expect(!info.description.contains("s3cret") && !info.description.contains("k3y"))
        #expect(ConfigError("bad dsn postgres://u:pw@h").description == "bad dsn postgres://u:\(Redaction.mask)@h")
        let entry = AuditEntry(
            changeover: "c", database: "d", step: "s", outcome: "ok", message: "dsn password=x",
            facts: ["token": "t", "lease.token": "7", "dsn": "host=h password=x"])
        #expect(entry.message == Redaction.placeholder)
        #expect(entry.facts == ["token": Redaction.placeholder, "lease.token": "7", "dsn": Redaction.placeholder])
    }
}
