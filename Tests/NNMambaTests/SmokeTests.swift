import Testing
@testable import NNMamba
@Test func placeholder() {}
