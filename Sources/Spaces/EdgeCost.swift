/// What a microcontroller budgets besides MACs (MCUNet, MLPerf Tiny): the SRAM the int8
/// activations need at once and the flash the int8 model occupies. Both are counted on
/// the int8 inference schedule, exactly, without building a network: the graph `pare
/// quantize` writes (BatchNorm and input normalization folded, ReLUs fused) run node by
/// node at batch 1 by the int8 executors, which free a value after its last reader.
public struct EdgeCost: Equatable, Hashable, Codable, Sendable {
    /// The largest total of uint8 activation bytes held at once: while a node writes its
    /// output, every value still to be read (its inputs included) is held too.
    public var peakActivationBytes: Int
    /// The payload of `model.int8.safetensors`: int8 weights, float32 per-channel weight
    /// scales, int32 biases (and the stem's int32 border values), and every activation
    /// grid's float32 scale and uint8 zero point.
    public var flashBytes: Int

    public init(peakActivationBytes: Int, flashBytes: Int) {
        self.peakActivationBytes = peakActivationBytes; self.flashBytes = flashBytes
    }
}

/// The int8 schedule of one network as values (bytes at batch 1) and the nodes that read
/// and write them, in execution order; the order and the node set mirror the inference
/// graph each operator family adds (`Sources/Networks/Operators/`), which a test checks
/// against what the executor holds and the file stores.
struct Int8Schedule {
    /// Bytes of each value; value 0 is the input image.
    private(set) var bytes: [Int]
    /// Each node's inputs; node i writes value i + 1.
    private(set) var inputs: [[Int]] = []
    /// Weights, scales, biases and border values of the convolutions and the classifier.
    private(set) var parameterBytes = 0
    /// Spatial size of each value (height = width).
    private var sizes: [Int]

    init(inputChannels: Int, inputSize: Int) {
        bytes = [inputChannels * inputSize * inputSize]
        sizes = [inputSize]
    }

    func size(of v: Int) -> Int { sizes[v] }

    /// A node writing `channels` channels at `size` from `inputs`; returns its value.
    mutating func node(_ inputs: [Int], channels: Int, size: Int) -> Int {
        self.inputs.append(inputs)
        bytes.append(channels * size * size)
        sizes.append(size)
        return bytes.count - 1
    }

    /// A folded convolution (k x k, padding k/2) reading `cin` channels of `x`; depthwise
    /// when `depthwise` (one filter per channel, cout = cin). `borderValues`: it absorbed the
    /// input normalization and pads with the raw mean, stored per input channel.
    mutating func conv(_ x: Int, cin: Int, cout: Int, kernel k: Int, stride: Int, depthwise: Bool = false, borderValues: Bool = false) -> Int {
        let weights = (depthwise ? 1 : cin) * cout * k * k
        // int8 weights, a float32 scale and an int32 bias per output channel.
        parameterBytes += weights + 8 * cout + (borderValues && k / 2 > 0 ? 4 * cin : 0)
        return node([x], channels: cout, size: SearchSpace.convOutput(sizes[x], kernel: k, stride: stride))
    }

    /// The classifier: its logits leave the int8 schedule (float32, held by the caller).
    mutating func linear(_ x: Int, inputs features: Int, outputs: Int) {
        parameterBytes += features * outputs + 8 * outputs
        inputs.append([x])
        bytes.append(0)
        sizes.append(1)
    }

    var cost: EdgeCost {
        var lastUse = [Int](repeating: -1, count: bytes.count)
        for (i, reads) in inputs.enumerated() { for v in reads { lastUse[v] = i } }
        var live = bytes[0], peak = 0
        for (i, reads) in inputs.enumerated() {
            live += bytes[i + 1]
            peak = max(peak, live)
            for v in Set(reads) where lastUse[v] == i { live -= bytes[v] }
        }
        // A grid (float32 scale, uint8 zero point) for the input and every node but the classifier.
        return EdgeCost(peakActivationBytes: peak, flashBytes: parameterBytes + 5 * inputs.count)
    }
}

extension SearchSpace {
    /// Peak activation memory and flash of `arch` as an int8 model (`EdgeCost`).
    public func edgeCost(_ arch: Architecture) -> EdgeCost {
        var s = Int8Schedule(inputChannels: inputChannels, inputSize: inputSize)
        var x = s.conv(0, cin: inputChannels, cout: stem.channels, kernel: stem.kernel, stride: stem.stride, borderValues: true)
        for (slot, (gene, w)) in zip(blocks, zip(arch.genes, blockWidths(arch))) where !gene.skipped {
            x = gene.op.plan.schedule(into: &s, slot: slot, input: x, channels: w.input, output: w.output, middle: w.middle)
        }
        var c = arch.widths.last ?? stem.channels
        if head.channels > 0 {
            x = s.conv(x, cin: c, cout: head.channels, kernel: 1, stride: 1)
            c = head.channels
        }
        x = s.node([x], channels: c, size: 1)
        s.linear(x, inputs: c, outputs: classes)
        return s.cost
    }
}

extension OperatorPlan {
    /// The block's int8 nodes, in the order its join adds them to the inference graph.
    func schedule(into s: inout Int8Schedule, slot: BlockSlot, input x: Int, channels c: Int, output: Int, middle: Int) -> Int {
        let b = join.branches(input: c, output: output, stride: slot.stride)
        switch join {
        case .none:
            return Self.schedule(main, into: &s, input: x, channels: c, middle: middle, output: output, stride: slot.stride)
        case .residual:
            let m = Self.schedule(main, into: &s, input: x, channels: c, middle: middle, output: output, stride: slot.stride)
            guard slot.stride == 1 && c == output else { return m }
            return s.node([x, m], channels: output, size: s.size(of: m))
        case .residualReLU:
            let m = Self.schedule(main, into: &s, input: x, channels: c, middle: middle, output: output, stride: slot.stride)
            let shortcut = b.projectionOutput.map {
                Self.schedule(projection, into: &s, input: x, channels: c, middle: middle, output: $0, stride: slot.stride)
            } ?? x
            let sum = s.node([m, shortcut], channels: output, size: s.size(of: m))
            return s.node([sum], channels: output, size: s.size(of: m))
        case .shuffle:
            if let p = b.projectionOutput {
                let proj = Self.schedule(projection, into: &s, input: x, channels: c, middle: middle, output: p, stride: slot.stride)
                let m = Self.schedule(main, into: &s, input: x, channels: c, middle: middle, output: b.mainOutput, stride: slot.stride)
                return s.node([proj, m], channels: output, size: s.size(of: m))
            }
            let size = s.size(of: x)
            let first = s.node([x], channels: c / 2, size: size)
            let second = s.node([x], channels: c - c / 2, size: size)
            let m = Self.schedule(main, into: &s, input: second, channels: c - c / 2, middle: middle, output: c / 2, stride: 1)
            return s.node([first, m], channels: output, size: size)
        }
    }

    /// A branch's convolutions, each reading the one before.
    static func schedule(_ layers: [Layer], into s: inout Int8Schedule, input x: Int, channels: Int, middle: Int, output: Int, stride: Int) -> Int {
        var v = x, c = channels
        for layer in layers {
            let st = layer.strided ? stride : 1
            switch layer.kind {
            case let .dense(width):
                let out = width.channels(middle: middle, output: output, input: c)
                v = s.conv(v, cin: c, cout: out, kernel: layer.kernel, stride: st)
                c = out
            case .depthwise:
                v = s.conv(v, cin: c, cout: c, kernel: layer.kernel, stride: st, depthwise: true)
            }
        }
        return v
    }
}
