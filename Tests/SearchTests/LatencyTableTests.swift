import Foundation
import Search
import Spaces
import Testing

/// A made-up table: each signature costs its MACs / 1e6 ms, so predictions are checkable.
func syntheticTable(_ space: SearchSpace, scale: Double = 1) -> LatencyTable {
    let entries = space.allSignatures().map { sig, gene -> LatencyTable.Entry in
        let ms = Double(sig.input * sig.output + sig.middle * 7 + sig.resolution) / 1000 + (gene == nil ? 0.05 : 0.01)
        return LatencyTable.Entry(signature: sig, milliseconds: ms)
    }
    return LatencyTable(space: space, batch: 1, threads: 2, machine: "test", entries: entries, scale: scale)
}

@Suite struct LatencyTableTests {
    let space = try! SpaceFile.parse("""
        name: tiny
        input: {channels: 1, size: 12}
        classes: 4
        stem: {channels: 4}
        stages:
          - {blocks: 2, stride: 2, widths: [6, 8], operators: [shuffle3, xception], middle_ratios: [0.5, 1.0]}
          - {blocks: 1, stride: 2, widths: [12, 16], operators: [mbconv3_e3], middle_ratios: [0.5, 1.0]}
        head: {channels: 16}
        """, file: "tiny.yaml")

    @Test func tableCoversEveryArchitectureAndRoundTrips() throws {
        let table = syntheticTable(space, scale: 0.9)
        let rng = TestRandom(seed: 3)
        for _ in 0..<200 {
            let a = space.randomArchitecture(rng)
            let sigs = space.signatures(a)
            #expect(sigs.count == space.blocks.count + 2)
            let sum = sigs.map { s in table.entries.first { $0.signature == s }!.milliseconds }.reduce(0, +)
            #expect(abs(table.predictMs(a)! - 0.9 * sum) < 1e-12)
        }
        // Every signature once.
        #expect(Set(table.entries.map(\.signature)).count == table.entries.count)
        let data = try JSONEncoder().encode(table)
        let back = try JSONDecoder().decode(LatencyTable.self, from: data)
        #expect(back == table)
        #expect(back.predictMs(space.largest) == table.predictMs(space.largest))
        // A table of another space is refused.
        #expect(throws: SearchError.self) { try table.checkCovers(SearchSpace.reference, path: "t.json") }
    }

    @Test func scaleAndPerPassOverheadAreFitted() throws {
        // measured = 1.3 * summed + 0.25 ms exactly: both recovered.
        let sums = [0.1, 0.4, 0.9, 1.6, 2.5]
        let (scale, overhead) = LatencyTable.fit(summed: sums, measured: sums.map { 1.3 * $0 + 0.25 })
        #expect(abs(scale - 1.3) < 1e-9 && abs(overhead - 0.25) < 1e-9)
        // A line that would need a negative overhead goes through the origin instead.
        let (s2, o2) = LatencyTable.fit(summed: sums, measured: sums.map { 2 * $0 - 0.05 })
        #expect(o2 == 0 && s2 > 1.9 && s2 < 2)
        // One architecture (or identical sums) fixes the scale alone.
        #expect(LatencyTable.fit(summed: [2, 2], measured: [3, 3]) == (1.5, 0))
        var table = syntheticTable(space, scale: scale)
        table.overheadMs = overhead
        let a = space.randomArchitecture(TestRandom(seed: 4))
        #expect(abs(table.predictMs(a)! - (1.3 * table.sumMs(a)! + 0.25)) < 1e-9)
        let back = try JSONDecoder().decode(LatencyTable.self, from: try JSONEncoder().encode(table))
        #expect(back == table && back.overheadMs == overhead)
        // A stored table from before the overhead existed reads as overhead 0; a negative one is refused.
        var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(table)) as! [String: Any]
        json.removeValue(forKey: "overheadMs")
        #expect(try JSONDecoder().decode(LatencyTable.self, from: try JSONSerialization.data(withJSONObject: json)).overheadMs == 0)
        json["overheadMs"] = -1
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(LatencyTable.self, from: try JSONSerialization.data(withJSONObject: json)) }
    }

    @Test func latencyBudgetIsHardAndCheckedUpFront() throws {
        let table = syntheticTable(space)
        let lo = table.predictMs(space.smallest)!, hi = table.predictMs(space.largest)!
        let limit = (lo + hi) / 2
        var config = EvolutionConfig()
        config.population = 12; config.generations = 4; config.parents = 4; config.mutations = 6; config.crossovers = 6
        final class ByLatency: CandidateEvaluator {
            let table: LatencyTable
            var calls = 0
            init(_ t: LatencyTable) { table = t }
            func score(_ arch: Architecture) throws -> Double { calls += 1; return table.predictMs(arch)! }
        }
        let ev = ByLatency(table)
        let s = try EvolutionarySearch(space: space, budget: Budget(maxLatencyMs: limit), config: config, latency: table,
                                       evaluator: ev, rng: TestRandom(seed: 8))
        try s.start()
        while !s.finished { try s.runGeneration() }
        #expect(!s.evaluated.isEmpty && ev.calls == s.evaluated.count)
        for c in s.evaluated { #expect(c.measured.latencyMs! <= limit) }
        #expect(throws: SearchError.self) {
            _ = try EvolutionarySearch(space: space, budget: Budget(maxLatencyMs: lo * 0.5), config: config, latency: table,
                                       evaluator: ev, rng: TestRandom(seed: 8))
        }
    }
}
