import Foundation
import Spaces
import Testing
import _TestSupport

/// Elastic depth: a stage's `depths` are the block counts a candidate may run; the blocks
/// past its depth are skipped ("skip" in the text form).
@Suite struct ElasticDepthTests {
    let text = """
        name: elastic
        input: {channels: 1, size: 16}
        classes: 4
        stem: {channels: 4}
        stages:
          - {depths: [1, 2, 3], stride: 2, widths: [8, 16], operators: [mbconv3_e3, mbconv5_e3], middle_ratios: [0.5, 1.0]}
          - {blocks: 2, stride: 2, widths: [16, 24], operators: [mbconv3_e3], middle_ratios: [1.0]}
        head: {channels: 0}
        """

    func space() throws -> SearchSpace { try SpaceFile.parse(text, file: "elastic.yaml") }

    /// Every candidate, enumerated: widths, then per stage each depth and each running
    /// block's operator and ratio.
    func enumerate(_ space: SearchSpace) -> [Architecture] {
        let slots = space.blocks
        var out: [Architecture] = []
        func genes(_ k: Int, _ depths: [Int], _ acc: [Architecture.Gene], _ widths: [Int]) {
            guard k < slots.count else { out.append(Architecture(widths: widths, genes: acc)); return }
            let slot = slots[k]
            if slot.indexInStage >= depths[slot.stage] { return genes(k + 1, depths, acc + [slot.skippedGene], widths) }
            for op in slot.operators { for r in slot.middleRatios {
                genes(k + 1, depths, acc + [Architecture.Gene(op: op, ratioTenths: r)], widths)
            } }
        }
        func depthsOf(_ s: Int, _ acc: [Int], _ widths: [Int]) {
            guard s < space.stages.count else { return genes(0, acc, [], widths) }
            for d in space.stages[s].depthChoices { depthsOf(s + 1, acc + [d], widths) }
        }
        func widthsOf(_ s: Int, _ acc: [Int]) {
            guard s < space.stages.count else { return depthsOf(0, [], acc) }
            for w in space.stages[s].widths { widthsOf(s + 1, acc + [w]) }
        }
        widthsOf(0, [])
        return out
    }

    @Test func blocksDefaultToTheLargestDepthAndTheFixedStageHasOne() throws {
        let s = try space()
        #expect(s.stages[0].blocks == 3 && s.stages[0].hasElasticDepth && s.stages[0].depthChoices == [1, 2, 3])
        #expect(s.stages[1].blocks == 2 && !s.stages[1].hasElasticDepth && s.stages[1].depthChoices == [2])
        // One width, operator and ratio everywhere is still a choice of networks when the depth is one.
        var one = s
        for i in one.stages.indices { one.stages[i].widths = [one.stages[i].widths[0]]; one.stages[i].operators = [.invertedResidual(kernel: 3, expansion: 3)]; one.stages[i].middleRatios = [10] }
        #expect(!one.isSingleArchitecture)
        one.stages[0].depths = nil
        #expect(one.isSingleArchitecture)
    }

    @Test func candidatesCountAndCostsFollowTheDepth() throws {
        let s = try space()
        let all = enumerate(s)
        // 2 widths x (4 + 16 + 64 genes of 1, 2 or 3 blocks) x 2 widths x 1 x 1.
        #expect(all.count == 2 * (4 + 16 + 64) * 2)
        #expect(Set(all).count == all.count)
        #expect(abs(s.log10Candidates - log10(Double(all.count))) < 1e-9)
        for a in all { try s.validate(a) }
        // The extremes are the cheapest and dearest of all.
        let macs = all.map { s.cost($0).macs }
        #expect(s.cost(s.smallest).macs == macs.min() && s.cost(s.largest).macs == macs.max())
        #expect(s.depth(of: s.smallest, stage: 0) == 1 && s.depth(of: s.largest, stage: 0) == 3)
        // A skipped block costs nothing: each extra block adds its own cost.
        let deep = all.first { s.depth(of: $0, stage: 0) == 3 }!
        var shallow = deep
        shallow.genes[2] = s.blocks[2].skippedGene
        let third = s.blocks[2], w = s.blockWidths(deep)[2]
        #expect(s.cost(deep) == s.cost(shallow) + s.cost(slot: third, op: deep.genes[2].op, input: w.input, output: w.output, middle: w.middle))
        #expect(s.signatures(shallow).count == s.signatures(deep).count - 1)
    }

    @Test func textFormsRoundTripAndMisplacedSkipsAreRefused() throws {
        let s = try space()
        let a = try Architecture(parsing: "16/24:mbconv5_e3@1.0,skip,skip,mbconv3_e3@1.0,mbconv3_e3@1.0", space: s)
        #expect(a.skipsBlocks && a.genes[1] == s.blocks[1].skippedGene && s.depth(of: a, stage: 0) == 1)
        #expect(try Architecture(parsing: a.description, space: s) == a)
        let json = try JSONEncoder().encode(a)
        #expect(try JSONDecoder().decode(Architecture.self, from: json) == a)
        // A gene of a fixed-depth space encodes as before (no "skipped" key).
        let plain = String(decoding: try JSONEncoder().encode(Architecture.Gene(op: .xception, ratioTenths: 10)), as: UTF8.self)
        #expect(!plain.contains("skipped"))
        func refused(_ text: String, _ message: String) {
            #expect(throws: ArchitectureError.self) { try Architecture(parsing: text, space: s) }
            do { _ = try Architecture(parsing: text, space: s) } catch {
                #expect("\(error)".contains(message), "\(text): \(error)")
            }
        }
        refused("16/24:mbconv5_e3@1.0,skip,mbconv5_e3@1.0,mbconv3_e3@1.0,mbconv3_e3@1.0", "after a skipped one")
        refused("16/24:skip,skip,skip,mbconv3_e3@1.0,mbconv3_e3@1.0", "runs 0 blocks; its depths are [1, 2, 3]")
        refused("16/24:mbconv5_e3@1.0,skip,skip,mbconv3_e3@1.0,skip", "stage 1 runs 1 blocks; its depths are [2]")
        // A skipped gene that is not the slot's filler would make equal networks unequal.
        var odd = a
        odd.genes[1].op = .invertedResidual(kernel: 5, expansion: 3)
        #expect(throws: ArchitectureError.self) { try s.validate(odd) }
    }

    @Test func badDepthsAreOneLineNamingTheField() throws {
        func message(_ depths: String, blocks: String = "") -> String {
            let t = text.replacingOccurrences(of: "{depths: [1, 2, 3],", with: "{\(blocks)depths: \(depths),")
            do { _ = try SpaceFile.parse(t, file: "e.yaml"); return "accepted" } catch { return "\(error)" }
        }
        #expect(message("[2, 1, 3]").contains("stages[0].depths: expected increasing block counts"))
        #expect(message("[1, 2]", blocks: "blocks: 3, ").contains("stages[0].depths"))
        #expect(message("[0, 1]").contains("stages[0].depths[0]"))
        #expect(message("[]").contains("stages[0].depths"))
        #expect(message("[1, 1, 2]").contains("stages[0].depths"))
        #expect(message("[1, 2, 3]", blocks: "blocks: 3, ") == "accepted")
    }

    @Test func randomCandidatesReachEveryDepthAndMovesKeepThemValid() throws {
        let s = try space()
        let rng = ArchitectureTests.Counter()
        var seen = Set<Int>()
        for _ in 0..<300 {
            let a = s.randomArchitecture(rng)
            try s.validate(a)
            seen.insert(s.depth(of: a, stage: 0))
            // Changing a depth skips the blocks past it and gives the new ones genes.
            for d in s.stages[0].depthChoices {
                let b = s.setting(depth: d, stage: 0, of: a, rng: rng)
                try s.validate(b)
                #expect(s.depth(of: b, stage: 0) == d)
                #expect(zip(a.genes, b.genes).prefix(min(d, s.depth(of: a, stage: 0))).allSatisfy { $0 == $1 })
            }
        }
        #expect(seen == [1, 2, 3])
        let lo = s.cost(s.smallest).macs, hi = s.cost(s.largest).macs
        for target in [lo + (hi - lo) / 10, (lo + hi) / 2] {
            let a = s.randomArchitecture(nearMACs: target, tolerance: (hi - lo) / 20, rng: rng)
            try s.validate(a)
        }
    }

    @Test func aNetworkOfItsOwnDepthKeepsTheRunningBlocks() throws {
        let s = try space()
        let a = try Architecture(parsing: "8/16:mbconv3_e3@0.5,mbconv5_e3@1.0,skip,mbconv3_e3@1.0,mbconv3_e3@1.0", space: s)
        let fixed = s.withoutSkippedBlocks(a)
        #expect(fixed.kept == [0, 1, 3, 4])
        #expect(fixed.space.stages.map(\.blocks) == [2, 2] && fixed.space.stages.allSatisfy { $0.depths == nil })
        try fixed.space.validate(file: "")
        try fixed.space.validate(fixed.architecture)
        #expect(fixed.space.cost(fixed.architecture) == s.cost(a))
        #expect(fixed.architecture.description == "8/16:mbconv3_e3@0.5,mbconv5_e3@1.0,mbconv3_e3@1.0,mbconv3_e3@1.0")
        // A space without elastic depth is its own fixed space.
        let plain = try SpaceFile.load(repositoryFile("search-spaces/fmnist-shufflenet.yaml"))
        #expect(plain.withoutSkippedBlocks(plain.largest).space == plain)
    }

    @Test func channelMultipleRoundsMiddleWidthsAndChecksStageWidths() throws {
        // make_divisible: nearest multiple, at least one, never 10 % below.
        #expect([12, 20, 9, 4, 100, 3].map { BlockSlot.roundedWidth($0, multiple: 8) } == [16, 24, 16, 8, 104, 8])
        #expect(BlockSlot.roundedWidth(13, multiple: 1) == 13)
        let t = text.replacingOccurrences(of: "head: {channels: 0}", with: "head: {channels: 0}\nchannel_multiple: 8")
        let s = try SpaceFile.parse(t, file: "e.yaml")
        #expect(s.channelMultiple == 8)
        let rng = ArchitectureTests.Counter()
        for _ in 0..<50 {
            let a = s.randomArchitecture(rng)
            for (slot, (g, w)) in zip(s.blocks, zip(a.genes, s.blockWidths(a))) where !g.skipped {
                #expect(w.middle % 8 == 0 && w.middle <= slot.maxMiddleWidth(g.op))
            }
        }
        #expect(try JSONDecoder().decode(SearchSpace.self, from: JSONEncoder().encode(s)) == s)
        // Absent from stored spaces that do not round.
        #expect(!String(decoding: try JSONEncoder().encode(try space()), as: UTF8.self).contains("channelMultiple"))
        let odd = t.replacingOccurrences(of: "widths: [16, 24], operators: [mbconv3_e3]", with: "widths: [16, 20], operators: [mbconv3_e3]")
        #expect { try SpaceFile.parse(odd, file: "e.yaml") } throws: { "\($0)" == "e.yaml: stages[1].widths: width 20 is not a multiple of channel_multiple 8" }
    }

    @Test func theShippedElasticSpaceSpansTwentyFoldInMACs() throws {
        let s = try SpaceFile.load(repositoryFile("search-spaces/fmnist-elastic.yaml"))
        let lo = s.cost(s.smallest).macs, hi = s.cost(s.largest).macs
        #expect(hi >= 20 * lo, "\(lo)...\(hi)")
        #expect(s.stages.allSatisfy { $0.widths.count >= 8 && $0.hasElasticDepth })
        // The stored copy (run.json, model.json) decodes to the same space.
        #expect(try JSONDecoder().decode(SearchSpace.self, from: JSONEncoder().encode(s)) == s)
    }
}
