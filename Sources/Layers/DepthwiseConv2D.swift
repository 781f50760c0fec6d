import TensorCore

/// Depthwise convolution without bias, weights [maxChannels, 1, K, K]; runs on the first
/// `input.channels` channels (a prefix of the weight rows).
public final class DepthwiseConv2D: ParameterContainer {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    public let maxChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter

    private let output: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private var savedInput: FeatureMap?

    public init(name: String, channels: Int, kernel: Int, stride: Int = 1, engine: Engine = Engine()) {
        self.engine = engine
        output = engine.scratch()
        gradInputBuffer = engine.gradientScratch()
        precondition(channels > 0 && kernel % 2 == 1 && stride > 0,
                     "depthwise \(name): channels \(channels), kernel \(kernel) (odd), stride \(stride)")
        maxChannels = channels
        self.kernel = kernel
        self.stride = stride
        padding = kernel / 2
        weight = Parameter(name: name + ".weight", shape: [channels, 1, kernel, kernel], decays: true)
    }

    public var parameters: [Parameter] { [weight] }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        (Depthwise.outputSize(height, kernel: kernel, stride: stride, padding: padding),
         Depthwise.outputSize(width, kernel: kernel, stride: stride, padding: padding))
    }

    /// `epilogue` (inference only) folds the following BatchNorm (+ ReLU) into the kernel.
    /// `statistics` (calibration only) receives each output channel's sum and sum of squares.
    public func forward(_ x: FeatureMap, mode: Mode, epilogue: Epilogue? = nil,
                        statistics: UnsafeMutablePointer<Double>? = nil) -> FeatureMap {
        precondition(epilogue == nil || mode == .inference, "\(weight.name): a folded epilogue is for inference only")
        return engine.measure(.depthwise) { forwardBody(x, mode: mode, epilogue: epilogue, statistics: statistics) }
    }

    private func forwardBody(_ x: FeatureMap, mode: Mode, epilogue: Epilogue?, statistics: UnsafeMutablePointer<Double>?) -> FeatureMap {
        precondition(x.channels <= maxChannels, "\(weight.name): input has \(x.channels) channels, max \(maxChannels)")
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        let y = output.featureMap(channels: x.channels, height: ho, width: wo, batch: x.batch,
                                   reserveChannels: maxChannels)
        Depthwise.forward(input: x, weights: weight.value, kernel: kernel, stride: stride, padding: padding, output: y,
                          epilogue: epilogue, statistics: statistics, engine: engine)
        engine.countMACs(kernel * kernel * y.count)
        savedInput = mode == .training ? x : nil
        return y
    }

    @discardableResult
    public func backward(_ dy: FeatureMap, inputGradient: Bool = true) -> FeatureMap? {
        engine.measure(.depthwise) { backwardBody(dy, inputGradient: inputGradient) }
    }

    private func backwardBody(_ dy: FeatureMap, inputGradient: Bool) -> FeatureMap? {
        guard let x = savedInput else { preconditionFailure("\(weight.name): backward without a training forward") }
        Depthwise.backwardWeights(input: x, gradOutput: dy, kernel: kernel, stride: stride, padding: padding,
                                  gradWeights: weight.grad, engine: engine)
        weight.touched = true
        guard inputGradient else { return nil }
        let dx = gradInputBuffer.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch,
                                   reserveChannels: maxChannels)
        Depthwise.backwardInput(gradOutput: dy, weights: weight.value, kernel: kernel, stride: stride,
                                padding: padding, gradInput: dx, engine: engine)
        return dx
    }
}
