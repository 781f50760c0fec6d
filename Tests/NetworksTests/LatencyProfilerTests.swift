import Datasets
import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite struct LatencyProfilerTests {
    @Test func tableHasAPositiveEntryForEverySignature() throws {
        BLAS.configure()
        let space = try tinySpace()
        let profiler = LatencyProfiler(network: Supernet(space: space, rng: RNG(seed: 5)), batch: 2, repeats: 2)
        let table = profiler.table(machine: "test")
        #expect(table.entries.count == space.allSignatures().count)
        #expect(table.entries.allSatisfy { $0.milliseconds > 0 })
        let rng = RNG(seed: 1)
        for _ in 0..<20 { #expect(table.predictMs(space.randomArchitecture(rng)) != nil) }
        #expect(profiler.measure(space.largest) > 0)
    }
}
