/// A search space: a fixed skeleton (input, stem, stages of choice blocks, head) and, per
/// stage, the choices every block of it offers. One definition serves training, search,
/// cost model and export. Loaded from YAML or JSON by `SpaceFile`; every field validated.
public struct SearchSpace: Equatable, Sendable, Codable {
    public var name: String
    public var inputChannels: Int
    public var inputSize: Int
    public var classes: Int
    public var stem: Stem
    public var stages: [Stage]
    public var head: Head
    /// Whether operators differing only in kernel (and expansion) share weights.
    public var kernelSharing: KernelSharing = .separate
    /// MetaPruning's PruningNet: each block layer's weights are generated from the
    /// architecture's encoding by a small fully connected network instead of stored.
    public var pruningNet = false
    /// Middle widths rounded to a multiple of this (MobileNet's make_divisible), for runtimes
    /// whose kernels want channel counts in multiples of their vector width; every stage
    /// width must be one. nil: 1 (no rounding).
    public var channelMultiple: Int?

    public struct Stem: Equatable, Sendable, Codable {
        public var channels: Int
        public var kernel: Int
        public var stride: Int
        public init(channels: Int, kernel: Int = 3, stride: Int = 1) {
            self.channels = channels; self.kernel = kernel; self.stride = stride
        }
    }

    public struct Stage: Equatable, Sendable, Codable {
        public var blocks: Int
        /// Stride of the stage's first block (the others have stride 1).
        public var stride: Int
        /// Output-channel choices, shared by every block of the stage (a coupled channel
        /// group: blocks are chained and, for ShuffleNet, split/concatenated at that width).
        public var widths: [Int]
        public var operators: [Operator]
        /// Middle-width ratios in tenths (e.g. 2, 4, ..., 20 for 0.2 ... 2.0).
        public var middleRatios: [Int]
        /// Per block of the stage, a middle width that replaces the ratio's: a pruned
        /// network's channel counts, which no ratio of its widths need produce.
        public var middleWidths: [Int]?
        /// Elastic depth (Once-for-All): how many of the stage's blocks may run, increasing,
        /// the largest `blocks`; a candidate skips the blocks past its depth. nil: all run.
        public var depths: [Int]?

        public init(blocks: Int, stride: Int, widths: [Int], operators: [Operator], middleRatios: [Int], middleWidths: [Int]? = nil,
                    depths: [Int]? = nil) {
            self.blocks = blocks; self.stride = stride; self.widths = widths
            self.operators = operators; self.middleRatios = middleRatios; self.middleWidths = middleWidths
            self.depths = depths
        }

        /// The depths a candidate may take: `depths`, or all blocks.
        public var depthChoices: [Int] { depths ?? [blocks] }
        /// Whether the number of blocks that run is a choice.
        public var hasElasticDepth: Bool { depthChoices.count > 1 }
    }

    /// The 1x1 convolution + BN + ReLU before pooling; `channels` 0: none, pooling follows
    /// the last stage (ResNet, MobileNetV1).
    public struct Head: Equatable, Sendable, Codable {
        public var channels: Int
        public init(channels: Int) { self.channels = channels }
    }

    public init(name: String, inputChannels: Int, inputSize: Int, classes: Int, stem: Stem, stages: [Stage], head: Head) {
        self.name = name; self.inputChannels = inputChannels; self.inputSize = inputSize
        self.classes = classes; self.stem = stem; self.stages = stages; self.head = head
    }

    enum CodingKeys: String, CodingKey { case name, inputChannels, inputSize, classes, stem, stages, head, kernelSharing, pruningNet, channelMultiple }

    /// A stored space (run.json, model.json, a checkpoint, a latency table) is validated
    /// exactly like a space file: a damaged or hand-edited copy is an error, not a crash.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(name: try c.decode(String.self, forKey: .name), inputChannels: try c.decode(Int.self, forKey: .inputChannels),
                  inputSize: try c.decode(Int.self, forKey: .inputSize), classes: try c.decode(Int.self, forKey: .classes),
                  stem: try c.decode(Stem.self, forKey: .stem), stages: try c.decode([Stage].self, forKey: .stages),
                  head: try c.decode(Head.self, forKey: .head))
        // Stored before kernel sharing existed: every operator owned its weights.
        kernelSharing = try c.decodeIfPresent(KernelSharing.self, forKey: .kernelSharing) ?? .separate
        pruningNet = try c.decodeIfPresent(Bool.self, forKey: .pruningNet) ?? false
        channelMultiple = try c.decodeIfPresent(Int.self, forKey: .channelMultiple)
        do { try validate(file: "") } catch let e as SpaceFileError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "search space: \(e.field): \(e.message)"))
        }
    }

    /// The static description of every choice block, in order.
    public var blocks: [BlockSlot] {
        var slots: [BlockSlot] = []
        var size = Self.convOutput(inputSize, kernel: stem.kernel, stride: stem.stride)
        var inputWidths = [stem.channels]
        for (s, stage) in stages.enumerated() {
            for b in 0..<stage.blocks {
                let stride = b == 0 ? stage.stride : 1
                var slot = BlockSlot(index: slots.count, stage: s, indexInStage: b, stride: stride,
                                     inputSize: size, inputWidths: inputWidths, outputWidths: stage.widths,
                                     operators: stage.operators, middleRatios: stage.middleRatios,
                                     kernelSharing: kernelSharing)
                slot.pinnedMiddle = stage.middleWidths?[b]
                slot.channelMultiple = channelMultiple ?? 1
                slots.append(slot)
                size = slot.outputSize
                inputWidths = stage.widths
            }
        }
        return slots
    }

    /// Spatial size after a k x k convolution with padding k/2.
    public static func convOutput(_ size: Int, kernel: Int, stride: Int) -> Int {
        (size + 2 * (kernel / 2) - kernel) / stride + 1
    }

    /// Resolution entering the head.
    public var finalSize: Int { blocks.last?.outputSize ?? Self.convOutput(inputSize, kernel: stem.kernel, stride: stem.stride) }
}

/// One choice block of a space, with the widths it can see.
public struct BlockSlot: Equatable, Sendable {
    public var index: Int
    public var stage: Int
    public var indexInStage: Int
    public var stride: Int
    public var inputSize: Int
    /// Possible input widths (the previous stage's choices, or the stem's width).
    public var inputWidths: [Int]
    /// Possible output widths (this stage's choices).
    public var outputWidths: [Int]
    public var operators: [Operator]
    public var middleRatios: [Int]
    public var kernelSharing: KernelSharing
    /// The middle width its stage's `middleWidths` pins for this block (a pruned network).
    public var pinnedMiddle: Int?
    /// Own middle widths are rounded to a multiple of this (`SearchSpace.channelMultiple`).
    public var channelMultiple = 1

    public init(index: Int, stage: Int, indexInStage: Int, stride: Int, inputSize: Int,
                inputWidths: [Int], outputWidths: [Int], operators: [Operator], middleRatios: [Int],
                kernelSharing: KernelSharing = .separate) {
        self.index = index; self.stage = stage; self.indexInStage = indexInStage; self.stride = stride
        self.inputSize = inputSize; self.inputWidths = inputWidths; self.outputWidths = outputWidths
        self.operators = operators; self.middleRatios = middleRatios; self.kernelSharing = kernelSharing
    }

    /// The operators that share one set of weights, in order of first appearance: one
    /// group per operator without kernel sharing, one per family with it.
    public var operatorGroups: [[Operator]] {
        guard kernelSharing != .separate else { return operators.map { [$0] } }
        var groups: [[Operator]] = []
        for op in operators {
            if let g = groups.firstIndex(where: { $0[0].family == op.family }) { groups[g].append(op) } else { groups.append([op]) }
        }
        return groups
    }

    /// Index of `op`'s group in `operatorGroups`.
    public func group(of op: Operator) -> Int? { operatorGroups.firstIndex { $0.contains(op) } }

    public var outputSize: Int { SearchSpace.convOutput(inputSize, kernel: 3, stride: stride) }

    /// Whether input and output widths are always equal (same stage, so the same choice).
    public var widthPreserving: Bool { indexInStage > 0 }

    /// The gene of this block when it is skipped: its first operator and ratio, marked.
    public var skippedGene: Architecture.Gene {
        var g = Architecture.Gene(op: operators[0], ratioTenths: middleRatios[0])
        g.skipped = true
        return g
    }

    /// Middle width of `op` for an active input/output width and a ratio in tenths
    /// (`OperatorPlan.Middle`). A pinned middle width (`middle_widths`, a pruned network)
    /// replaces the ratio's.
    public func middleWidth(_ op: Operator, input: Int, output: Int, ratioTenths: Int) -> Int {
        let rule = op.middle
        if let pinnedMiddle, rule.isOwn { return pinnedMiddle }
        let w = rule.width(input: input, output: output, ratioTenths: ratioTenths)
        return rule.isOwn ? Self.roundedWidth(w, multiple: channelMultiple) : w
    }

    /// Middle width of `gene` at these widths.
    public func middleWidth(_ gene: Architecture.Gene, input: Int, output: Int) -> Int {
        middleWidth(gene.op, input: input, output: output, ratioTenths: gene.ratioTenths)
    }

    /// `w` rounded to the nearest multiple of `k`, at least `k` and never more than 10 %
    /// below `w` (MobileNet's make_divisible).
    public static func roundedWidth(_ w: Int, multiple k: Int) -> Int {
        guard k > 1 else { return w }
        var r = max(k, (w + k / 2) / k * k)
        if r * 10 < w * 9 { r += k }
        return r
    }

    /// Whether `op` has a middle width of its own (the others' follows input or output).
    public static func hasMiddle(_ op: Operator) -> Bool { op.middle.isOwn }

    /// Largest middle width `op` can take in this slot (its allocation).
    public func maxMiddleWidth(_ op: Operator) -> Int {
        if let pinnedMiddle, Self.hasMiddle(op) { return pinnedMiddle }
        var m = 1
        for i in inputWidths { for o in outputWidths { for r in middleRatios {
            m = max(m, middleWidth(op, input: i, output: o, ratioTenths: r))
        } } }
        return m
    }
}
