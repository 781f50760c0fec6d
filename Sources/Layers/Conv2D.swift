import TensorCore

/// Dense 2-D convolution without bias, weights OIHW [maxOut, maxIn, K, K].
/// Runs on the first `input.channels` inputs and the first `outputChannels` outputs: the
/// top-left window of the weight matrix [maxOut, maxIn*K*K], passed to GEMM through its
/// leading dimension (no weight copy); the weight gradient lands in the same window.
/// A 1x1 stride-1 convolution skips im2col: the input map already is the column matrix.
public final class Conv2D: ParameterContainer {
    /// Threads and profiler this layer runs with.
    public let engine: Engine
    public let maxInputChannels: Int
    public let maxOutputChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter

    private let output: ScratchBuffer
    private let columns: ScratchBuffer
    private let gradInputBuffer: ScratchBuffer
    private let gradColumns: ScratchBuffer
    private let gemmScratch: ScratchBuffer
    private var savedInput: FeatureMap?
    private var savedOutputChannels = 0

    public init(name: String, inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int? = nil, engine: Engine = Engine(), scratch: ScratchPools = ScratchPools()) {
        self.engine = engine
        output = scratch.buffer()
        columns = scratch.buffer()
        gradInputBuffer = scratch.gradientBuffer()
        gradColumns = scratch.gradientBuffer()
        gemmScratch = scratch.gradientBuffer()
        precondition(inputChannels > 0 && outputChannels > 0 && kernel > 0 && stride > 0,
                     "conv \(name): channels \(inputChannels)->\(outputChannels), kernel \(kernel), stride \(stride)")
        maxInputChannels = inputChannels
        maxOutputChannels = outputChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding ?? kernel / 2
        weight = Parameter(name: name + ".weight", shape: [outputChannels, inputChannels, kernel, kernel], decays: true)
    }

    public var parameters: [Parameter] { [weight] }

    private var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }
    private var rowStride: Int { maxInputChannels * kernel * kernel }

    public func outputSize(height: Int, width: Int) -> (Int, Int) {
        (Depthwise.outputSize(height, kernel: kernel, stride: stride, padding: padding),
         Depthwise.outputSize(width, kernel: kernel, stride: stride, padding: padding))
    }

    /// Multiply-accumulates per image for this input/output width at this resolution.
    public func macs(inputChannels: Int, outputChannels: Int, outputHeight: Int, outputWidth: Int) -> Int {
        kernel * kernel * inputChannels * outputChannels * outputHeight * outputWidth
    }

    /// `epilogue` (inference only) applies the following BatchNorm (+ ReLU) in place on the
    /// GEMM output instead of a separate layer pass into another buffer.
    public func forward(_ x: FeatureMap, outputChannels cout: Int, mode: Mode, epilogue: Epilogue? = nil) -> FeatureMap {
        precondition(epilogue == nil || mode == .inference, "\(weight.name): a folded epilogue is for inference only")
        return engine.measure(isPointwise ? .pointwiseConv : .denseConv) {
            if mode != .training && !isPointwise && x.channels * kernel * kernel <= Conv2D.directTaps {
                return forwardDirect(x, outputChannels: cout, epilogue: epilogue)
            }
            let y = forwardBody(x, outputChannels: cout, mode: mode)
            epilogue?.apply(y, engine: engine)
            return y
        }
    }

    /// Without a backward to feed, a convolution with few input taps (the stem) runs as a
    /// direct kernel instead of im2col + GEMM.
    static let directTaps = 36

    private func forwardDirect(_ x: FeatureMap, outputChannels cout: Int, epilogue: Epilogue?) -> FeatureMap {
        precondition(x.channels <= maxInputChannels && cout >= 1 && cout <= maxOutputChannels,
                     "\(weight.name): input \(x.channels) of max \(maxInputChannels), output \(cout) of max \(maxOutputChannels)")
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        let y = output.featureMap(channels: cout, height: ho, width: wo, batch: x.batch, reserveChannels: maxOutputChannels)
        DirectConv.forward(input: x, weights: weight.value, rowStride: rowStride, outputChannels: cout, kernel: kernel,
                           stride: stride, padding: padding, output: y, epilogue: epilogue, engine: engine)
        engine.countMACs(cout * x.channels * kernel * kernel * y.plane)
        savedInput = nil
        return y
    }

    private func forwardBody(_ x: FeatureMap, outputChannels cout: Int, mode: Mode) -> FeatureMap {
        precondition(x.channels <= maxInputChannels && cout >= 1 && cout <= maxOutputChannels,
                     "\(weight.name): input \(x.channels) of max \(maxInputChannels), output \(cout) of max \(maxOutputChannels)")
        let (ho, wo) = outputSize(height: x.height, width: x.width)
        let y = output.featureMap(channels: cout, height: ho, width: wo, batch: x.batch, reserveChannels: maxOutputChannels)
        let reduce = x.channels * kernel * kernel
        let cols: UnsafePointer<Float>
        if isPointwise {
            cols = UnsafePointer(x.pointer)
        } else {
            let c = columns.reserve(rowStride * y.plane)
            Im2col.forward(x, kernel: kernel, stride: stride, padding: padding, outputHeight: ho, outputWidth: wo, into: c, engine: engine)
            cols = UnsafePointer(c)
        }
        GEMM.multiply(m: cout, n: y.plane, k: reduce, a: weight.value, lda: rowStride,
                      b: cols, ldb: y.plane, beta: 0, c: y.pointer, ldc: y.plane, engine: engine)
        engine.countMACs(cout * reduce * y.plane)
        savedInput = mode == .training ? x : nil
        savedOutputChannels = cout
        return y
    }

    /// Accumulates the weight gradient and returns the input gradient (nil when
    /// `inputGradient` is false, e.g. for the first layer).
    @discardableResult
    public func backward(_ dy: FeatureMap, inputGradient: Bool = true) -> FeatureMap? {
        engine.measure(isPointwise ? .pointwiseConv : .denseConv) { backwardBody(dy, inputGradient: inputGradient) }
    }

    private func backwardBody(_ dy: FeatureMap, inputGradient: Bool) -> FeatureMap? {
        guard let x = savedInput else { preconditionFailure("\(weight.name): backward without a training forward") }
        precondition(dy.channels == savedOutputChannels, "\(weight.name): gradient has \(dy.channels) channels, forward produced \(savedOutputChannels)")
        let reduce = x.channels * kernel * kernel
        let cols = isPointwise ? UnsafePointer(x.pointer) : UnsafePointer(columns.pointer)
        // dW[:cout, :cin*K*K] += dY * cols^T
        GEMM.multiply(transB: true, m: dy.channels, n: reduce, k: dy.plane, a: dy.pointer, lda: dy.plane,
                      b: cols, ldb: dy.plane, beta: 1, c: weight.grad, ldc: rowStride, scratch: gemmScratch, engine: engine)
        weight.touched = true
        guard inputGradient else { return nil }
        let dx = gradInputBuffer.featureMap(channels: x.channels, height: x.height, width: x.width, batch: x.batch,
                                            reserveChannels: maxInputChannels)
        // dCols = W[:cout, :cin*K*K]^T * dY
        let dcols = isPointwise ? dx.pointer : gradColumns.reserve(rowStride * dy.plane)
        GEMM.multiply(transA: true, m: reduce, n: dy.plane, k: dy.channels, a: weight.value, lda: rowStride,
                      b: dy.pointer, ldb: dy.plane, beta: 0, c: dcols, ldc: dy.plane, engine: engine)
        if !isPointwise {
            Im2col.backward(dcols, kernel: kernel, stride: stride, padding: padding,
                            outputHeight: dy.height, outputWidth: dy.width, into: dx, engine: engine)
        }
        return dx
    }
}
