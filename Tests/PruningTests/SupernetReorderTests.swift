import Datasets
import Layers
import Networks
import Pruning
import Spaces
import TensorCore
import Testing
import Training
import _TestSupport

/// Candidates at the largest widths and ratios with random operators: every one of them
/// runs on whole tensors when each operator has its own weights.
func widestCandidates(_ space: SearchSpace, count: Int, seed: UInt64) -> [Architecture] {
    let rng = RNG(seed: seed)
    return [space.largest] + (0..<count).map { _ in
        var a = space.largest
        for (b, slot) in space.blocks.enumerated() { a.genes[b].op = slot.operators[rng.int(below: slot.operators.count)] }
        return a
    }
}

@Suite("Reordering a supernet") struct SupernetReorderTests {
    @Test("sorting every channel set of a multi-operator supernet leaves each widest candidate's output unchanged and puts the best channels first",
          arguments: [("tiny", KernelSharing.separate), ("tiny", KernelSharing.transform), ("tiny-classic", KernelSharing.separate), ("tiny-classic", KernelSharing.centreCrop)])
    func sortPreservesWidest(name: String, sharing: KernelSharing) throws {
        BLAS.configure()
        var space = name == "tiny" ? try tinySpace(lastStageBlocks: 2) : try tinyClassicSpace()
        space.kernelSharing = sharing
        let net = randomSupernet(space, seed: 21)
        let x = input(space, batch: 4)
        // With shared kernels a smaller family member is a slice of the shared tensors: only
        // the family's largest keeps its output.
        let candidates = sharing == .separate ? widestCandidates(space, count: 6, seed: 2) : [space.largest]
        let before = candidates.map { net.forward(x.map, arch: $0, mode: .inference).toArray() }
        let groups = net.channelGroups
        #expect(groups.contains { $0.prunable })
        let moved = ChannelOrder.sort(groups, by: FilterNorm(p: 1), in: net)
        #expect(moved > 0)
        for (arch, logits) in zip(candidates, before) {
            #expect(maxAbsDifference(net.forward(x.map, arch: arch, mode: .inference).toArray(), logits) <= 1e-5, "\(arch)")
        }
        // The first k channels are now the k best: scores descend within every sorted set.
        for (g, s) in zip(groups, FilterNorm(p: 1).scores(groups, TensorStore(net))) where g.prunable {
            #expect(zip(s, s.dropFirst()).allSatisfy { $0 >= $1 - 1e-12 }, "\(g.roles)")
        }
    }

    @Test("a supernet's sets: a block's operators share its output set and keep their own middles; an identity shortcut between sets of different sizes freezes both")
    func supernetGroups() throws {
        var space = try tinyClassicSpace()
        space.kernelSharing = .separate
        let groups = Supernet(space: space, rng: RNG(seed: 1)).channelGroups
        // Stem (4) and stage 0 (widest 6) meet in identity shortcuts at width 4: neither moves.
        #expect(groups.filter { !$0.prunable }.flatMap(\.roles).sorted() == [.stem, .stage(0)])
        // Stage 1: one set written by every operator of both blocks (basic, dwsep3, dwsep5).
        let stage1 = groups.first { $0.roles == [.stage(1)] }!
        #expect(stage1.producers.map(\.weight).filter { $0.hasPrefix("blocks.2.") }.count == 4, "conv2 + shortcut of basic, the pointwise of each dwsep")
        #expect(groups.filter { $0.roles == [.middle(block: 2)] }.count == 1, "only the basic operator has a middle set")
        #expect(stage1.consumers.contains("fc.weight"))
    }

    @Test("sorting while training moves the momentum too: the next steps equal those of the unsorted network, permuted")
    func sortMovesMomentum() throws {
        BLAS.configure()
        let space = try tinySpace(lastStageBlocks: 2)
        let (sorted, plain) = (randomSupernet(space, seed: 5), randomSupernet(space, seed: 5))
        let (a, b) = (Trainer(network: sorted, recipe: Recipe(), totalSteps: 8), Trainer(network: plain, recipe: Recipe(), totalSteps: 8))
        let batches = (0..<4).map { input(space, batch: 16, seed: 30 + UInt64($0)) }
        let labels = (0..<16).map { Int32($0 % 4) }
        for x in batches[..<2] {
            _ = a.train(images: x.map, labels: labels, arch: space.largest)
            _ = b.train(images: x.map, labels: labels, arch: space.largest)
        }
        #expect(ChannelOrder.sort(sorted.channelGroups, by: FilterNorm(p: 1), in: sorted) > 0)
        for x in batches[2...] {
            _ = a.train(images: x.map, labels: labels, arch: space.largest)
            _ = b.train(images: x.map, labels: labels, arch: space.largest)
        }
        let probe = input(space, batch: 5, seed: 99)
        let diff = maxAbsDifference(sorted.forward(probe.map, arch: space.largest, mode: .inference).toArray(),
                                    plain.forward(probe.map, arch: space.largest, mode: .inference).toArray())
        #expect(diff <= 1e-4)
        // Without the momentum the trajectories part: the check above can fail.
        let (stale, reference) = (randomSupernet(space, seed: 5), randomSupernet(space, seed: 5))
        let (c, d) = (Trainer(network: stale, recipe: Recipe(), totalSteps: 8), Trainer(network: reference, recipe: Recipe(), totalSteps: 8))
        for x in batches[..<2] {
            _ = c.train(images: x.map, labels: labels, arch: space.largest)
            _ = d.train(images: x.map, labels: labels, arch: space.largest)
        }
        let groups = stale.channelGroups
        for (g, s) in zip(groups, FilterNorm(p: 1).scores(groups, TensorStore(stale))) where g.prunable {
            ChannelOrder.permute(g, order: ChannelOrder.descending(s), in: TensorStore(stale))
        }
        for x in batches[2...] {
            _ = c.train(images: x.map, labels: labels, arch: space.largest)
            _ = d.train(images: x.map, labels: labels, arch: space.largest)
        }
        let staleDiff = maxAbsDifference(stale.forward(probe.map, arch: space.largest, mode: .inference).toArray(),
                                         reference.forward(probe.map, arch: space.largest, mode: .inference).toArray())
        #expect(staleDiff > 1e-3)
    }

    @Test("a run that sorts its channels at an epoch start resumes bit-exactly, mid-epoch and at the sorting boundary", arguments: [5, 6])
    func resumeWithSorting(stop: Int) throws {
        let space = try tinySpace(lastStageBlocks: 2)
        let (train, val) = try tinyData()
        var config = TrainConfig(space: space, spaceFile: "tiny.yaml", data: "synthetic")
        config.epochs = 3
        config.recipe.batchSize = 32
        config.probes = 0
        config.channelSorting = ChannelSorting(method: "l1", epoch: 1)
        #expect(try resumesBitExactly(config, train: train, validation: val, stop: stop) { t in
            let net = t.supernet!, groups = net.channelGroups
            t.onEpochStart = { run in if run.epoch == 1 { ChannelOrder.sort(groups, by: FilterNorm(p: 1), in: net) } }
        })
    }
}
