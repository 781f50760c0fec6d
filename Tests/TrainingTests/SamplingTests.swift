import Datasets
import Foundation
import Layers
import Networks
import Runs
import Spaces
import TensorCore
import Testing
import Training
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

    @Test func distillDrawsTeacherSmallestAndRandomPaths() throws {
        let s = try ArchitectureSampler(space: space, strategy: .distill(random: 2))
        let paths = try s.nextPaths(rng: RNG(seed: 3))
        #expect(paths.count == 4 && paths[0] == space.largest && paths[1] == space.smallest)
        #expect(try ArchitectureSampler(space: space, strategy: .uniform).nextPaths(rng: RNG(seed: 3)).count == 1)
    }

    @Test func progressiveShrinkingOpensKernelThenWidthThenOperators() throws {
        var shared = try tinySpace()
        shared.kernelSharing = .centreCrop
        for sp in [space, shared] {
            let p = ProgressiveShrinking(kernelEpoch: 1, widthEpoch: 2, operatorEpoch: 3)
            let rng = RNG(seed: 4), largest = sp.largest
            var kernels = Set<String>(), widths = Set<[Int]>(), otherFamily = false
            for epoch in 0..<4 {
                for _ in 0..<400 {
                    let a = p.restrict(sp.randomArchitecture(rng), epoch: epoch, space: sp, rng: rng)
                    try sp.validate(a)
                    switch epoch {
                    case 0: #expect(a == largest)
                    case 1:
                        #expect(a.widths == largest.widths && zip(a.genes, largest.genes).allSatisfy { $0.ratioTenths == $1.ratioTenths && $0.op.family == $1.op.family })
                        for g in a.genes { kernels.insert(g.op.description) }
                    case 2:
                        #expect(zip(a.genes, largest.genes).allSatisfy { $0.op.family == $1.op.family })
                        widths.insert(a.widths)
                    default:
                        otherFamily = otherFamily || zip(a.genes, largest.genes).contains { $0.op.family != $1.op.family }
                    }
                }
            }
            // Each stage really opens its choice.
            #expect(kernels.count > Set(largest.genes.map(\.op.description)).count)
            #expect(sp.stages.allSatisfy { $0.widths.count == 1 } || widths.count > 1)
            #expect(otherFamily)
        }
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
