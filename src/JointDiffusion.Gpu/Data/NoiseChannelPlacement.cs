namespace JointDiffusion.Gpu.Data;

/// <summary>How a grey noise image (a digit or a letter) becomes an RGB noise image.</summary>
public enum NoiseChannelPlacement
{
    /// <summary>The grey image in one channel chosen uniformly at random per image, the other two zero, as the reference code's <c>grayscale_to_random_rgb</c> does for the paper's CelebA + MNIST experiment.</summary>
    RandomChannel,

    /// <summary>The grey image repeated in all three channels (white glyphs).</summary>
    Replicate,
}
