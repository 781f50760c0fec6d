/// A growable, reusable float buffer owned by a layer (activations, caches, scratch).
/// It reallocates only when a larger size is requested, so after the first step at the
/// largest width and batch a training loop allocates nothing. Contents are not preserved
/// across a growth.
public final class ScratchBuffer {
    public private(set) var pointer: UnsafeMutablePointer<Float>
    public private(set) var capacity: Int

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
        pointer.initialize(repeating: 0, count: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Returns a pointer to at least `count` floats (uninitialised after growth).
    @inlinable
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity { grow(count) }
        return pointer
    }

    @usableFromInline
    func grow(_ count: Int) {
        pointer.deallocate()
        capacity = count
        pointer = .allocate(capacity: count)
        pointer.initialize(repeating: 0, count: count)
    }

    /// A feature map of the given shape living in this buffer. `reserveChannels` (the
    /// layer's maximum width) sizes the buffer for the widest map at this resolution and
    /// batch, so random widths do not regrow it step after step.
    @inlinable
    public func featureMap(channels: Int, height: Int, width: Int, batch: Int, reserveChannels: Int = 0) -> FeatureMap {
        let p = reserve(max(channels, reserveChannels) * height * width * batch)
        return FeatureMap(pointer: p, channels: channels, height: height, width: width, batch: batch)
    }
}

/// Non-owning view of activations in the engine layout: channel-major [C, H, W, N]
/// (batch innermost). Why this layout: a 1x1 convolution of the whole batch is one GEMM
/// (Cout x HWN = W[Cout x Cin] * X[Cin x HWN]); a channel slice (split, concat) is a
/// contiguous block; BN statistics run over one contiguous plane per channel; and the
/// depthwise kernels vectorise along the batch without border special cases.
public struct FeatureMap {
    public var pointer: UnsafeMutablePointer<Float>
    public var channels: Int
    public var height: Int
    public var width: Int
    public var batch: Int

    @inlinable
    public init(pointer: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int, batch: Int) {
        self.pointer = pointer
        self.channels = channels
        self.height = height
        self.width = width
        self.batch = batch
    }

    /// Floats per channel (H * W * N).
    @inlinable public var plane: Int { height * width * batch }
    @inlinable public var count: Int { channels * plane }

    /// The channels `range` of this map (a contiguous sub-block, no copy).
    @inlinable
    public func channels(_ range: Range<Int>) -> FeatureMap {
        precondition(range.lowerBound >= 0 && range.upperBound <= channels,
                     "channel range \(range) outside 0..<\(channels)")
        return FeatureMap(pointer: pointer + range.lowerBound * plane, channels: range.count,
                          height: height, width: width, batch: batch)
    }

    @inlinable
    public func sameShape(_ other: FeatureMap) -> Bool {
        channels == other.channels && height == other.height && width == other.width && batch == other.batch
    }

    @inlinable public var shapeDescription: String { "[C \(channels), H \(height), W \(width), N \(batch)]" }

    /// Copies the values out (for tests and debugging).
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
