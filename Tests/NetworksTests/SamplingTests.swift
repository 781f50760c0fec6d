import Datasets
import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import _TestSupport

@Suite struct SamplingTests {
    let space = SearchSpace.reference

    @Test func uniformCoversEveryChoice() throws {
        let s = try ArchitectureSampler(space: space, strategy: .uniform)
        let rng = RNG(seed: 1)
        var seen = Set<String>()
        for _ in 0..<2000 { for g in try s.next(rng: rng).genes { seen.insert("\(g.op)@\(g.ratioTenths)") } }
        #expect(seen.count == 4 * 10)
    }

    @Test func flopsBandIsRespected() throws {
        let s = try ArchitectureSampler(space: space, strategy: .flopsBand(minMACs: 2_000_000, maxMACs: 2_500_000))
        let rng = RNG(seed: 2)
        for _ in 0..<300 {
            let m = space.cost(try s.next(rng: rng)).macs
            #expect(m >= 2_000_000 && m <= 2_500_000)
        }
        #expect(throws: SamplingError.self) { try ArchitectureSampler(space: space, strategy: .flopsBand(minMACs: 10_000_000, maxMACs: 20_000_000)) }
        let narrow = try ArchitectureSampler(space: space, strategy: .flopsBand(minMACs: 1_060_926, maxMACs: 1_060_926))
        #expect(throws: SamplingError.self) { try narrow.next(rng: rng) }
    }

    @Test func fairnessUsesEveryOperatorOncePerRound() throws {
        let s = try ArchitectureSampler(space: space, strategy: .fair)
        let rng = RNG(seed: 3)
        for _ in 0..<25 {
            let round = try (0..<4).map { _ in try s.next(rng: rng) }
            for b in 0..<space.blocks.count {
                #expect(Set(round.map { $0.genes[b].op }).count == 4)
            }
        }
    }

    @Test func sandwichCyclesLargestSmallestRandom() throws {
        let s = try ArchitectureSampler(space: space, strategy: .sandwich)
        let rng = RNG(seed: 4)
        for _ in 0..<5 {
            #expect(try s.next(rng: rng) == space.largest)
            #expect(try s.next(rng: rng) == space.smallest)
            try space.validate(try s.next(rng: rng))
        }
    }
}
