/// The rules every search space obeys, wherever it comes from: a space file, or the copy
/// stored in `run.json`, `model.json`, a checkpoint or a latency table. Bounds are generous
/// for CPU-sized networks and keep every size the engine allocates far from overflow.
extension SearchSpace {
    public static let maxChannels = 4096
    public static let maxHeadChannels = 8192
    public static let maxClasses = 10_000
    public static let maxBlocksPerStage = 64
    public static let maxInputSize = 512
    /// Largest number of floats the supernet may allocate for its weights (all operators,
    /// largest widths): 64 M floats = 256 MiB, before gradients and momentum.
    public static let maxSupernetWeights = 64 << 20
    /// Largest feature map of one image (floats) any layer may produce: 4 M = 16 MiB.
    public static let maxFeatureMapPerImage = 4 << 20

    /// Throws a `SpaceFileError` naming `file` and the field unless every value is in
    /// range, the structure is consistent (`checkStructure`) and the network it makes stays
    /// within the size bounds above.
    public func validate(file: String) throws {
        func fail(_ field: String, _ message: String) -> SpaceFileError { SpaceFileError(file: file, field: field, message: message) }
        func check(_ v: Int, _ field: String, _ range: ClosedRange<Int>) throws {
            guard range.contains(v) else { throw fail(field, "expected \(range.lowerBound)...\(range.upperBound), got \(v)") }
        }
        guard !name.isEmpty, name.count <= 200 else { throw fail("name", "expected a non-empty name of at most 200 characters") }
        try check(inputChannels, "input.channels", 1...64)
        try check(inputSize, "input.size", 4...Self.maxInputSize)
        try check(classes, "classes", 2...Self.maxClasses)
        try check(stem.channels, "stem.channels", 1...Self.maxChannels)
        try check(stem.kernel, "stem.kernel", 1...7)
        guard stem.kernel % 2 == 1 else { throw fail("stem.kernel", "expected an odd kernel size, got \(stem.kernel)") }
        try check(stem.stride, "stem.stride", 1...2)
        try check(head.channels, "head.channels", 0...Self.maxHeadChannels)
        guard !stages.isEmpty, stages.count <= 16 else { throw fail("stages", "expected 1...16 stages, got \(stages.count)") }
        for (i, s) in stages.enumerated() {
            let p = "stages[\(i)]"
            try check(s.blocks, p + ".blocks", 1...Self.maxBlocksPerStage)
            try check(s.stride, p + ".stride", 1...2)
            guard !s.widths.isEmpty, s.widths.count <= 64 else { throw fail(p + ".widths", "expected 1...64 width choices") }
            for (j, w) in s.widths.enumerated() { try check(w, "\(p).widths[\(j)]", 1...Self.maxChannels) }
            guard s.widths == s.widths.sorted(), Set(s.widths).count == s.widths.count else {
                throw fail(p + ".widths", "expected strictly increasing channel counts, got \(s.widths)")
            }
            guard !s.operators.isEmpty, Set(s.operators).count == s.operators.count else {
                throw fail(p + ".operators", "expected a non-empty list of distinct operators")
            }
            guard !s.middleRatios.isEmpty, s.middleRatios.count <= 40 else { throw fail(p + ".middle_ratios", "expected 1...40 ratios") }
            for (j, t) in s.middleRatios.enumerated() {
                guard (1...40).contains(t) else {
                    throw fail("\(p).middle_ratios[\(j)]", "expected a multiple of 0.1 in 0.1...4.0, got \(Double(t) / 10)")
                }
            }
            guard Set(s.middleRatios).count == s.middleRatios.count else { throw fail(p + ".middle_ratios", "duplicate ratios") }
            if let pinned = s.middleWidths {
                guard pinned.count == s.blocks else {
                    throw fail(p + ".middle_widths", "expected one middle width per block (\(s.blocks)), got \(pinned.count)")
                }
                // Operators without a middle width of their own (convK, dwsepK) ignore theirs.
                for (j, m) in pinned.enumerated() { try check(m, "\(p).middle_widths[\(j)]", 1...Self.maxChannels) }
            }
            if let depths = s.depths {
                guard !depths.isEmpty, depths == depths.sorted(), Set(depths).count == depths.count,
                      depths.first! >= 1, depths.last! == s.blocks else {
                    throw fail(p + ".depths", "expected increasing block counts in 1...\(s.blocks) ending at blocks (\(s.blocks)), got \(quoted(depths))")
                }
                // A pruned network is one architecture: its depth is fixed.
                guard s.middleWidths == nil || depths.count == 1 else {
                    throw fail(p + ".depths", "a stage with middle_widths (a pruned network) has a fixed depth")
                }
            }
        }
        if let k = channelMultiple {
            try check(k, "channel_multiple", 1...64)
            for (i, st) in stages.enumerated() {
                if let w = st.widths.first(where: { $0 % k != 0 }) {
                    throw fail("stages[\(i)].widths", "width \(w) is not a multiple of channel_multiple \(k)")
                }
            }
        }
        try checkStructure(file: file)
        let weights = supernetWeightBound
        guard weights <= Self.maxSupernetWeights else {
            throw fail("stages", "the supernet would hold about \(weights / 1_000_000) M weights; at most \(Self.maxSupernetWeights / 1_000_000) M are allowed (fewer or narrower choices)")
        }
        let largestMap = largestFeatureMapPerImage
        guard largestMap <= Self.maxFeatureMapPerImage else {
            throw fail("stages", "a layer would produce \(largestMap / 1_000_000) M values per image; at most \(Self.maxFeatureMapPerImage / 1_000_000) M are allowed (smaller input or widths)")
        }
    }

    /// The weights the supernet allocates, counted from each operator group's plan at its
    /// allocation widths (`OperatorPlan.Join.allocation`), plus a learned kernel transform
    /// (at most 25 x 25 and 9 x 9) per elastic layer, stem, head and classifier; with
    /// PruningNet, each block weight's generator (33 values per weight for its second layer).
    var supernetWeightBound: Int {
        var total = inputChannels * stem.channels * stem.kernel * stem.kernel + 2 * stem.channels
        for slot in blocks {
            for group in slot.operatorGroups {
                let plan = Operator.largest(of: group).plan
                let mid = group.map { slot.maxMiddleWidth($0) }.max()!
                let w = plan.join.allocation(slot)
                var weights = OperatorPlan.cost(plan.main, input: w.mainInput, middle: mid, output: w.mainOutput, slot: slot).parameters
                if let p = w.projectionOutput {
                    weights += OperatorPlan.cost(plan.projection, input: slot.inputWidths.max()!, middle: mid, output: p, slot: slot).parameters
                }
                let elastic = (plan.main + plan.projection).filter(\.elastic).count
                total += weights * (pruningNet ? 34 : 1) + elastic * (625 + 81)
            }
        }
        let last = stages.last!.widths.max()!
        let features = head.channels > 0 ? head.channels : last
        return total + last * head.channels + 2 * head.channels + features * classes + classes
    }

    /// The most values one layer produces for one image: the stem's output, and each slot's
    /// largest middle width at its input resolution.
    var largestFeatureMapPerImage: Int {
        let stemSize = Self.convOutput(inputSize, kernel: stem.kernel, stride: stem.stride)
        var m = stem.channels * stemSize * stemSize
        for slot in blocks {
            let widest = slot.operators.map { slot.maxMiddleWidth($0) }.max()!
            m = max(m, max(widest, slot.inputWidths.max()!, slot.outputWidths.max()!) * slot.inputSize * slot.inputSize)
        }
        return m
    }
}

/// At most `limit` characters of a value for an error message: a 50 MB list or a 100 KB
/// architecture text must not come back as a 50 MB error line.
public func quoted(_ value: Any, limit: Int = 80) -> String {
    let text = "\(value)"
    guard text.count > limit else { return text }
    return String(text.prefix(limit)) + "... (\(text.count) characters)"
}
