import Testing

@testable import NNMamba

@Suite struct OpenBLASCoreTests {
    @Test func genericCoreOnAVX512MachinePicksSkylakeX() {
        #expect(OpenBLASCore.override(corename: "Prescott", simdLevel: 7, environment: [:]) == "SkylakeX")
        #expect(OpenBLASCore.override(corename: "Nehalem", simdLevel: 7, environment: [:]) == "SkylakeX")
        #expect(OpenBLASCore.override(corename: "Haswell", simdLevel: 7, environment: [:]) == "SkylakeX")
    }

    @Test func genericCoreOnAVX2MachinePicksHaswell() {
        #expect(OpenBLASCore.override(corename: "Prescott", simdLevel: 1, environment: [:]) == "Haswell")
        #expect(OpenBLASCore.override(corename: "Sandybridge", simdLevel: 1, environment: [:]) == "Haswell")
        // AVX-512F alone (no BW/DQ/VL) is not enough for the Skylake-X kernels.
        #expect(OpenBLASCore.override(corename: "Prescott", simdLevel: 3, environment: [:]) == "Haswell")
    }

    @Test func goodCoresAndOldCPUsAreLeftAlone() {
        #expect(OpenBLASCore.override(corename: "Cooperlake", simdLevel: 7, environment: [:]) == nil)
        #expect(OpenBLASCore.override(corename: "SKYLAKEX", simdLevel: 7, environment: [:]) == nil)
        #expect(OpenBLASCore.override(corename: "Zen", simdLevel: 1, environment: [:]) == nil)
        #expect(OpenBLASCore.override(corename: "Prescott", simdLevel: 0, environment: [:]) == nil)
    }

    @Test func userSettingIsNeverOverridden() {
        #expect(
            OpenBLASCore.override(
                corename: "Prescott", simdLevel: 7,
                environment: ["OPENBLAS_CORETYPE": "Nehalem"]) == nil)
        #expect(
            OpenBLASCore.override(
                corename: "Prescott", simdLevel: 7,
                environment: ["OPENBLAS_CORETYPE": ""]) == "SkylakeX")
    }
}
