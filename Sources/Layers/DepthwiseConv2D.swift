import TensorCore

/// Depthwise convolution without bias, weights [maxChannels, 1, K, K]; runs on the first
/// `input.channels` channels (a prefix of the weight rows). With several `kernelSizes`
/// (an elastic kernel) it also runs any smaller size, derived from the K x K weight by
/// centre crop (and a learned transform): padding follows the active size.
public final class DepthwiseConv2D: ParameterContainer {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    public let maxChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter
    /// Sizes it runs besides `kernel` (nil: only `kernel`).
    private let elastic: ElasticKernel?

    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var savedInput: FeatureMap?
    private var savedKernel = 0

    /// `kernelSizes` with more than one size makes the kernel elastic (smaller sizes are
    /// centre crops, transformed with `learnedTransform`); `kernel` is then their largest.
    public init(name: String, channels: Int, kernel: Int, stride: Int = 1, kernelSizes: [Int] = [],
                learnedTransform: Bool = false, engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
        precondition(channels > 0 && kernel % 2 == 1 && stride > 0,
                     "depthwise \(name): channels \(channels), kernel \(kernel) (odd), stride \(stride)")
        maxChannels = channels
        self.kernel = kernel
        self.stride = stride
        padding = kernel / 2
        weight = Parameter(name: name + ".weight", shape: [channels, 1, kernel, kernel], decays: true)
        if Set(kernelSizes).count > 1 {
            precondition(kernelSizes.max() == kernel, "depthwise \(name): kernel \(kernel) is not the largest of \(kernelSizes)")
            elastic = ElasticKernel(name: name, sizes: kernelSizes, learnedTransform: learnedTransform)
        } else {
            elastic = nil
        }
    }

    public var parameters: [Parameter] { [weight] + (elastic?.transforms ?? []) }

    /// The sizes this layer runs, largest first.
    public var kernelSizes: [Int] { elastic?.sizes ?? [kernel] }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        (Depthwise.outputSize(height, kernel: kernel, stride: stride, padding: padding),
         Depthwise.outputSize(width, kernel: kernel, stride: stride, padding: padding))
    }

    /// The [channels, k, k] weights of active size `k` (a copy): the weight rows themselves
    /// at the largest size, the cropped (transformed) kernel below it. What export writes.
    public func kernelWeights(_ k: Int, channels: Int) -> [Float] {
        precondition(kernelSizes.contains(k) && channels <= maxChannels, "\(weight.name): size \(k) of \(kernelSizes), \(channels) channels")
        let w = k == kernel ? UnsafePointer(weight.value) : elastic!.weights(weight.value, kernel: k, channels: channels)
        return Array(UnsafeBufferPointer(start: w, count: channels * k * k))
    }

    /// `epilogue` (inference only) folds the following BatchNorm (+ ReLU) into the kernel.
    /// `statistics` (calibration only) receives each output channel's sum and sum of squares.
    /// `kernel` picks the active size of an elastic layer (default: the largest).
    public func forward(_ x: FeatureMap, mode: Mode, kernel k: Int? = nil, epilogue: Epilogue? = nil,
                        statistics: UnsafeMutablePointer<Double>? = nil) -> FeatureMap {
        precondition(epilogue == nil || mode == .inference, "\(weight.name): a folded epilogue is for inference only")
        return engine.measure(.depthwise) { forwardBody(x, mode: mode, kernel: k ?? kernel, epilogue: epilogue, statistics: statistics) }
    }

    private func forwardBody(_ x: FeatureMap, mode: Mode, kernel k: Int, epilogue: Epilogue?, statistics: UnsafeMutablePointer<Double>?) -> FeatureMap {
        precondition(x.channels <= maxChannels, "\(weight.name): input has \(x.channels) channels, max \(maxChannels)")
        precondition(kernelSizes.contains(k), "\(weight.name): kernel \(k), this layer runs \(kernelSizes)")
        let p = k / 2
        let ho = Depthwise.outputSize(x.height, kernel: k, stride: stride, padding: p)
        let wo = Depthwise.outputSize(x.width, kernel: k, stride: stride, padding: p)
        let y = output.featureMap(channels: x.channels, height: ho, width: wo, batch: x.batch,
                                   reserveChannels: maxChannels)
        let w = k == kernel ? UnsafePointer(weight.value) : elastic!.weights(weight.value, kernel: k, channels: x.channels)
        Depthwise.forward(input: x, weights: w, kernel: k, stride: stride, padding: p, output: y,
                          epilogue: epilogue, statistics: statistics, engine: engine)
        engine.countMACs(k * k * y.count)
        savedInput = mode == .training ? x : nil
        savedKernel = k
        return y
    }

    @discardableResult
    public func backward(_ dy: FeatureMap, inputGradient: Bool = true) -> FeatureMap? {
        engine.measure(.depthwise) { backwardBody(dy, inputGradient: inputGradient) }
    }

    private func backwardBody(_ dy: FeatureMap, inputGradient: Bool) -> FeatureMap? {
        guard let x = savedInput else { preconditionFailure("\(weight.name): backward without a training forward") }
        let k = savedKernel
        if k == kernel {
            Depthwise.backwardWeights(input: x, gradOutput: dy, kernel: k, stride: stride, padding: k / 2,
                                      gradWeights: weight.grad, engine: engine)
        } else {
            // A smaller elastic size: its own gradient, then back through transform and crop.
            let g = elastic!.gradientBuffer(kernel: k)
            Depthwise.backwardWeights(input: x, gradOutput: dy, kernel: k, stride: stride, padding: k / 2,
                                      gradWeights: g, engine: engine)
            elastic!.backward(kernel: k, into: weight.grad)
        }
        weight.touched = true
        guard inputGradient else { return nil }
        let dx = gradInputBuffer.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch,
                                   reserveChannels: maxChannels)
        // The forward's weights: still in the elastic buffers (backward above does not touch them).
        let w = k == kernel ? UnsafePointer(weight.value) : elastic!.currentWeights(kernel: k)
        Depthwise.backwardInput(gradOutput: dy, weights: w, kernel: k, stride: stride,
                                padding: k / 2, gradInput: dx, engine: engine)
        return dx
    }
}
