/// Folding the input normalization into the convolutions that read it, so a deployed model
/// takes raw [0, 1] pixels (pixel / 255): one pass less, and an int8 input that is exact.
extension InferenceGraph {
    /// Whether the graph starts with a `normalize` whose every reader is a dense convolution.
    public var canFoldInputNormalization: Bool {
        guard let first = nodes.first, case .normalize = first.op, first.inputs == [0] else { return false }
        return nodes.dropFirst().allSatisfy { node in
            guard node.inputs.contains(1) else { return true }
            if case let .conv(c) = node.op, c.groups == 1, node.inputs == [1], c.padValue == nil { return true }
            return false
        }
    }

    /// The same function without the `normalize` node: w' = w / std (per input channel),
    /// b' = b − Σ w·mean / std, and the border padded with the mean instead of zero (a zero
    /// of the normalized input is the mean of the raw one). Unchanged when it cannot fold.
    public func foldingInputNormalization() -> InferenceGraph {
        guard canFoldInputNormalization, case let .normalize(mean, std) = nodes[0].op else { return self }
        var g = self
        g.nodes.removeFirst()
        for index in g.nodes.indices {
            // Value 1 (the normalized input) becomes the graph input; every later id moves down by one.
            g.nodes[index].inputs = g.nodes[index].inputs.map { $0 == 0 ? 0 : $0 - 1 }
            guard g.nodes[index].inputs == [0], case var .conv(c) = g.nodes[index].op else { continue }
            let kk = c.kernel * c.kernel
            for o in 0..<c.outputChannels {
                var shift: Float = 0
                for i in 0..<c.inputChannels {
                    for t in 0..<kk {
                        let k = (o * c.inputChannels + i) * kk + t
                        c.weight[k] /= std[i]
                        shift += c.weight[k] * mean[i]
                    }
                }
                c.bias[o] -= shift
            }
            if c.padding > 0 { c.padValue = mean }
            g.nodes[index].op = .conv(c)
        }
        return g
    }
}
