import Testing

@testable import NNMamba

@Suite struct BufferPoolTests {
    /// 1 MiB + 4 KiB of floats: a size nothing else in the engine asks for.
    static let count = (1 << 18) + 1024

    @Test func aFreedBufferIsHandedOutAgainInsideAScopeAndFreedWhenItEnds() {
        let kept = BufferPool.reusing { () -> Int in
            var first: UnsafeMutablePointer<Float>? = nil
            do {
                let t = Tensor(uninitialized: [Self.count])
                first = t.data
            }
            #expect(BufferPool.keptBytes >= Self.count * 4)
            let again = Tensor(zeros: [Self.count])
            #expect(again.data == first)
            // A reused buffer is still zeroed for `zeros`.
            #expect(again.maxAbs == 0)
            do { _ = Tensor(uninitialized: [Self.count + 16]) }
            return BufferPool.keptBytes
        }
        #expect(kept >= (Self.count + 16) * 4)
        #expect(BufferPool.keptBytes == 0)
    }

    @Test func outsideAScopeNothingIsKept() {
        do { _ = Tensor(uninitialized: [Self.count]) }
        #expect(BufferPool.keptBytes == 0)
    }

    @Test func nestedScopesDrainOnlyAtTheOutermost() {
        BufferPool.reusing {
            BufferPool.reusing { do { _ = Tensor(uninitialized: [Self.count]) } }
            #expect(BufferPool.keptBytes >= Self.count * 4)
        }
        #expect(BufferPool.keptBytes == 0)
    }

    @Test func keptBytesStayWithinTheCapacity() {
        let each = BufferPool.capacityBytes / 3 / 4
        BufferPool.reusing {
            do { _ = (0..<5).map { _ in Tensor(uninitialized: [each]) } }
            #expect(BufferPool.keptBytes <= BufferPool.capacityBytes)
            #expect(BufferPool.keptBytes >= 3 * each * 4)
        }
    }
}
