namespace JointDiffusion.Gpu.IO;

/// <summary>
/// The interpolation kernel used when <see cref="ImageLoadOptions"/> asks for a resize. Both are ImageSharp
/// resamplers whose support widens by the scale factor when shrinking, so downscaling averages (antialiases)
/// the way PIL's <c>Image.resize</c> does.
/// </summary>
public enum ImageResampling
{
    /// <summary>Triangle (bilinear) kernel, radius 1; torchvision's default for <c>Resize</c>.</summary>
    Bilinear,

    /// <summary>Keys cubic convolution kernel with a = −0.5, radius 2 (PIL's <c>BICUBIC</c>); sharper, may overshoot (clipped on storage).</summary>
    Bicubic,
}
