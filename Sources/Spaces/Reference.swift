extension SearchSpace {
    /// The reference supernet of the PyTorch peer benchmark (peer_torch.py, docs/benchmarks.md): stem 16, stages [32, 64, 128]
    /// (fixed) of 2 blocks each, 4 operators and 10 middle ratios per block, head 256.
    /// `search-spaces/fmnist-shufflenet.yaml` with every stage fixed to its largest width.
    public static var reference: SearchSpace {
        let ops: [Operator] = [.shuffle(kernel: 3), .shuffle(kernel: 5), .shuffle(kernel: 7), .xception]
        let ratios = Array(stride(from: 2, through: 20, by: 2))
        return SearchSpace(
            name: "reference", inputChannels: 1, inputSize: 28, classes: 10, stem: Stem(channels: 16),
            stages: [32, 64, 128].map { Stage(blocks: 2, stride: 2, widths: [$0], operators: ops, middleRatios: ratios) },
            head: Head(channels: 256))
    }

    /// This space with every stage's width fixed to `widths[i]` (or its largest).
    public func fixingWidths(_ widths: [Int]? = nil) -> SearchSpace {
        var s = self
        for i in s.stages.indices { s.stages[i].widths = [widths?[i] ?? s.stages[i].widths.max()!] }
        return s
    }
}

extension SearchSpace {
    /// The block slots of `arch` alone: every slot narrowed to the architecture's operator,
    /// ratio and widths, so a network built from them allocates exactly the chosen widths
    /// (the standalone model of a subnet).
    public func slots(fixedTo arch: Architecture) -> [BlockSlot] {
        precondition(!arch.skipsBlocks, "a fixed network has no skipped blocks (see withoutSkippedBlocks): \(arch)")
        var input = stem.channels
        return blocks.map { slot in
            var s = slot
            let gene = arch.genes[slot.index]
            let output = arch.widths[slot.stage]
            s.inputWidths = [input]
            s.outputWidths = [output]
            s.operators = [gene.op]
            s.middleRatios = [gene.ratioTenths]
            input = output
            return s
        }
    }
}

extension SearchSpace {
    /// `arch` as a network of its own depth: every stage holding just the blocks `arch`
    /// runs (skipped blocks are identities: stride 1, width-preserving), depth no longer a
    /// choice; with the index, in this space, of each block kept. A space without elastic
    /// depth comes back unchanged.
    public func withoutSkippedBlocks(_ arch: Architecture) -> (space: SearchSpace, architecture: Architecture, kept: [Int]) {
        let slots = blocks
        let kept = slots.indices.filter { !arch.genes[$0].skipped }
        guard stages.contains(where: { $0.depths != nil }) else { return (self, arch, kept) }
        var s = self
        for i in s.stages.indices {
            s.stages[i].blocks = kept.filter { slots[$0].stage == i }.count
            s.stages[i].depths = nil
        }
        return (s, Architecture(widths: arch.widths, genes: kept.map { arch.genes[$0] }), kept)
    }
}
