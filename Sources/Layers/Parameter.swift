import TensorCore

/// How a layer runs. Passed explicitly to every forward; no global learning phase.
public enum Mode: Sendable, Equatable {
    /// Batch statistics, running statistics updated with momentum; gradients follow.
    case training
    /// Running statistics; nothing is updated.
    case inference
    /// Batch statistics, running statistics replaced by the cumulative average over the
    /// batches seen since `resetRunningStatistics()` (BN recalibration); no gradients.
    case calibrating
}

/// A trainable tensor with its gradient and momentum buffers, allocated at the layer's
/// maximum size. A layer running on a leading slice of its channels reads and writes
/// the matching window; the rest of the gradient stays zero for that step.
///
/// `touched` is set by every backward pass that accumulates into `grad`; the optimizer
/// updates only touched parameters (PyTorch's `zero_grad(set_to_none=True)` semantics:
/// a candidate operator that was not on this step's path gets no momentum or decay).
public final class Parameter {
    public let name: String
    public let shape: [Int]
    public let count: Int
    /// Whether weight decay applies (conv and linear weights; not BN affine nor biases).
    public let decays: Bool
    public let value: UnsafeMutablePointer<Float>
    public let grad: UnsafeMutablePointer<Float>
    public let velocity: UnsafeMutablePointer<Float>
    /// False until the first optimizer step that touched this parameter (PyTorch starts the
    /// momentum buffer as a copy of the first gradient).
    public var hasVelocity = false
    public var touched = false
    /// Set when a `WeightGenerator` writes this tensor (PruningNet): its value is derived
    /// from the generator's parameters and the last architecture run, not trained itself.
    public var generated = false

    public init(name: String, shape: [Int], decays: Bool, initialValue: Float = 0) {
        self.name = name
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.decays = decays
        value = .allocate(capacity: count); value.initialize(repeating: initialValue, count: count)
        grad = .allocate(capacity: count); grad.initialize(repeating: 0, count: count)
        velocity = .allocate(capacity: count); velocity.initialize(repeating: 0, count: count)
    }

    deinit {
        value.deallocate(); grad.deallocate(); velocity.deallocate()
    }

    /// The value as a tensor (a copy).
    public var tensor: Tensor {
        get { Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: value, count: count))) }
        set {
            precondition(newValue.shape == shape, "parameter \(name): shape \(newValue.shape), expected \(shape)")
            newValue.scalars.withUnsafeBufferPointer { value.update(from: $0.baseAddress!, count: count) }
        }
    }

    /// The gradient as a tensor (a copy).
    public var gradient: Tensor {
        Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: grad, count: count)))
    }

    public func zeroGradient() {
        grad.update(repeating: 0, count: count)
        touched = false
    }

    /// Kaiming-normal initialisation, std = sqrt(2 / fanOut) (PyTorch mode='fan_out', relu).
    public func initializeKaiming(fanOut: Int, rng: RNG) {
        let std = (2.0 / Double(fanOut)).squareRoot()
        for i in 0..<count { value[i] = Float(rng.normal() * std) }
    }

    public func initializeNormal(std: Double, rng: RNG) {
        for i in 0..<count { value[i] = Float(rng.normal() * std) }
    }
}

/// Anything that owns parameters (a layer, a block, a network); listing is explicit.
public protocol ParameterContainer: AnyObject {
    var parameters: [Parameter] { get }
}
