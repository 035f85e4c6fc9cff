import ChangeoverCore
import Testing

/// A follower listens where its primary does, when this host has every address of it.
@Suite struct ListenAddressesTests {
    @Test func wildcardsLoopbackAndThisHostsAddressesAreInherited() {
        #expect(ListenAddresses.inherited("*") == "*")
        #expect(ListenAddresses.inherited("localhost") == "localhost")
        #expect(ListenAddresses.inherited("127.0.0.1 -::1") == "127.0.0.1 -::1")  // Debian's redis.conf
        #expect(ListenAddresses.inherited("0.0.0.0") == "0.0.0.0")
    }

    @Test func anAddressThisHostLacksIsNotInheritedNorIsNothing() {
        // TEST-NET-3 (RFC 5737): never an interface's address here.
        #expect(ListenAddresses.inherited("203.0.113.77") == nil)
        #expect(ListenAddresses.inherited("127.0.0.1,203.0.113.77") == nil)
        #expect(ListenAddresses.inherited("") == nil)
        #expect(ListenAddresses.inherited(nil) == nil)
    }

    @Test func clientsReachTheFirstAddressOrLoopbackForAWildcard() {
        #expect(ListenAddresses.reachable("*") == "127.0.0.1")
        #expect(ListenAddresses.reachable("localhost,10.0.0.5") == "127.0.0.1")
        #expect(ListenAddresses.reachable("10.0.0.5,127.0.0.1") == "10.0.0.5")
        #expect(ListenAddresses.reachable("127.0.0.1 -::1") == "127.0.0.1")
        #expect(ListenAddresses.reachable("-10.0.0.5") == "10.0.0.5")
    }
}
