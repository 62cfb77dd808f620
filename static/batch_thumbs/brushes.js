/**
 * Tilt Brush / Open Brush brushes: the catalog (guid → brush folder), the rewriting of brush
 * URIs to the configured brush assets, and the materials.
 *
 * Brush shaders and textures live in no package registry; a gallery hosts a copy of the brush
 * folder (`<Name>-<guid>/<Name>-<guid>-v10.0-{vertex,fragment}.glsl`, `...-MainTex.png`, shared
 * GLSL under `includes/`) and names its URL in the page config (`brushAssetsUrl`). Files name
 * brushes by the dead www.tiltbrush.com shader URLs, by a guid (old guids map to the current
 * brush) or by a material name (`brush_<Name>`, `ob-<Name>`, `material_<guid>`); every one of
 * them is rewritten to that URL and the dead host is never fetched.
 *
 * With brush assets, a brush is its own GLSL ES 3.0 shader pair as a RawShaderMaterial (GLSL3,
 * attributes `a_position`, `a_normal`, `a_color`, `a_texcoord0`, `a_tangent`) with the uniforms
 * the shaders declare filled in: a camera-relative key and fill light in Tilt Brush's colours,
 * time 0, no fog, the brush's own values from the catalog or the file. Without brush assets, or
 * for a brush the catalog does not know, the documented fallback is used: vertex colours with
 * the brush family's blending (additive for light and emissive brushes, alpha-tested for
 * textured cut-out brushes, alpha-blended for the few soft ones, lit for the rest). Loaders
 * record which one drew the model in `userData.thumbnail.notes.brushes`.
 */
import {
	AdditiveBlending,
	BufferAttribute,
	DataTexture,
	DoubleSide,
	FrontSide,
	GLSL3,
	Matrix3,
	Matrix4,
	MeshBasicMaterial,
	MeshStandardMaterial,
	RawShaderMaterial,
	RepeatWrapping,
	Texture,
	Vector2,
	Vector3,
	Vector4,
} from 'three';

import { abortable } from './signals.js';

/**
 * Every brush of the brush folder: [name, guid, flags, textures, uniform values]. Flags: the
 * family (`opaque`, `cutout`, `blend`, `add`), `single` for single-sided brushes, `v1` for the
 * few templates whose files say `-v1.0-`. Textures are the files next to the shaders
 * (`MainTex` is `...-MainTex.png`; `BumpMap.jpg` a JPEG). Values are the brush's own uniform
 * values where they differ from UNIFORM_DEFAULTS (names without the `u_` prefix). Brush
 * metadata from Open Brush / three-icosa (Apache-2.0).
 */
const BRUSHES = [
	[ '3D Printing Brush', 'd3f3b18a-da03-f694-b838-28ba8e749a98', 'opaque single', '' ],
	[ 'BlocksBasic', '0e87b49c-6546-3a34-3a44-8a556d7d6c3e', 'opaque', '', { Shininess: 0.2, SpecColor: [ 0.1961, 0.1961, 0.1961 ] } ],
	[ 'BlocksGem', '232998f8-d357-47a2-993a-53415df9be10', 'opaque', '', { Frequency: 2, Jitter: 1, RimIntensity: 0.5, RimPower: 2, Shininess: 0.9 } ],
	[ 'BlocksGlass', '3d813d82-5839-4450-8ddc-8e889ecd96c7', 'add', '', { RimIntensity: 0.7, RimPower: 4, Shininess: 0.8 } ],
	[ 'BubbleWand', 'eba3f993-f9a1-4d35-b84e-bb08f48981a4', 'add', 'MainTex', { ScrollJitterFrequency: 1, ScrollJitterIntensity: 3, ScrollRate: -0.54 } ],
	[ 'Bubbles', '89d104cd-d012-426b-b5b3-bbaee63ac43c', 'add', 'MainTex', { ScrollJitterFrequency: 0.2, ScrollJitterIntensity: 0.02, ScrollRate: 0.5 } ],
	[ 'CelVinyl', '700f3aa8-9a7c-2384-8b8a-ea028905dd8c', 'cutout', 'MainTex', { Cutoff: 0.554 } ],
	[ 'Charcoal', 'fde6e778-0f7a-e584-38d6-89d44cee59f6', 'cutout single', 'BumpMap MainTex', { Shininess: 0.01, SpecColor: [ 0, 0, 0 ] } ],
	[ 'ChromaticWave', '0f0ff7b2-a677-45eb-a7d6-0cd7206f4816', 'add', '', { EmissionGain: 0.45 } ],
	[ 'CoarseBristles', '1161af82-50cf-47db-9706-0c3576d43c43', 'blend', 'MainTex', { A2CEnabled: 1, Cutoff: 0.25 } ],
	[ 'Comet', '1caa6d7d-f015-3f54-3a4b-8b5354d39f81', 'add', 'AlphaMask MainTex' ],
	[ 'ConcaveHull', '7ae1f880-a517-44a0-99f9-1cab654498c6', 'cutout', '', { Shininess: 0.414, SpecColor: [ 0.5373, 0.5373, 0.5373 ] } ],
	[ 'DanceFloor', '6a1cf9f9-032c-45ec-311e-a6680bee32e9', 'add', 'MainTex', { TintColor: [ 0.5, 0.5, 0.5, 0.5 ] } ],
	[ 'DiamondHull', 'c8313697-2563-47fc-832e-290f4c04b901', 'add', 'MainTex' ],
	[ 'Disco', '4391aaaa-df73-4396-9e33-31e4e4930b27', 'opaque', '', { Shininess: 0.65, SpecColor: [ 0.5147, 0.5147, 0.5147 ] } ],
	[ 'DotMarker', 'd1d991f2-e7a0-4cf1-b328-f57e915e6260', 'opaque', 'MainTex' ],
	[ 'Dots', '6a1cf9f9-032c-45ec-9b1d-a6680bee30f7', 'add', 'MainTex', { BaseGain: 0.4, EmissionGain: 300 } ],
	[ 'DoubleFlat', 'f4a0550c-332a-4e1a-9793-b71508f4a454', 'cutout single', 'MainTex' ],
	[ 'DoubleTaperedFlat', '0d3889f3-3ede-470c-8af4-f44813306126', 'opaque', '', { Shininess: 0.15, SpecColor: [ 0, 0, 0 ] } ],
	[ 'DoubleTaperedMarker', '0d3889f3-3ede-470c-8af4-de4813306126', 'cutout', '' ],
	[ 'Drafting', '492b36ff-b337-436a-ba5f-1e87ee86747e', 'add', 'MainTex', { DraftingVisibility01: 1 } ],
	[ 'DryBrush', '725f4c6a-6427-6524-29ab-da371924adab', 'cutout single', 'BumpMap.jpg MainTex', { Cutoff: 0.2, Shininess: 0.05, SpecColor: [ 0, 0, 0 ] } ],
	[ 'DuctTape', '3ca16e2f-bdcd-4da2-8631-dcef342f40f1', 'cutout', 'BumpMap MainTex', { Cutoff: 0.2, Shininess: 0.414, SpecColor: [ 0.5373, 0.5373, 0.5373 ] } ],
	[ 'DuctTapeGeometry', '84d5bbb2-6634-8434-f8a7-681b576b4664', 'cutout single', 'BumpMap MainTex', { Cutoff: 0.2, Shininess: 0.414, SpecColor: [ 0.5373, 0.5373, 0.5373 ] } ],
	[ 'Electricity', 'f6e85de3-6dcc-4e7f-87fd-cee8c3d25d51', 'add', '', { DisplacementIntensity: 2, EmissionGain: 0.2 } ],
	[ 'Embers', '02ffb866-7fb2-4d15-b761-1012cefb1360', 'add', 'MainTex', { ScrollDistance: [ -0.2, 0.6, 0 ], ScrollJitterFrequency: 5, ScrollJitterIntensity: 0.03, ScrollRate: 0.6 } ],
	[ 'EnvironmentDiffuse', '0ad58bbd-42bc-484e-ad9a-b61036ff4ce7', 'opaque v1', '' ],
	[ 'EnvironmentDiffuseLightMap', 'd01d9d6c-9a61-4aba-8146-5891fafb013b', 'opaque v1', '' ],
	[ 'FacetedTube', '4391ffaa-df73-4396-9e33-31e4e4930b27', 'opaque single', '', { ColorX: [ 1, 0, 0, 1 ], ColorY: [ 0, 1, 0, 1 ], ColorZ: [ 0, 0, 1, 1 ] } ],
	[ 'Fairy', 'd9cc5e99-ace1-4d12-96e0-4a7c18c99cfc', 'add', '' ],
	[ 'Feather', 'a555b809-2017-46cb-ac26-e63173d8f45e', 'add', 'MainTex' ],
	[ 'Fire', 'cb92b597-94ca-4255-b017-0e3f42f12f9e', 'add', 'MainTex' ],
	[ 'Fire2', '53d753ef-083c-45e1-98e7-4459b4471219', 'add', 'DisplaceTex MainTex', { DisplacementIntensity: 0.04, FlameFadeMax: 30, FlameFadeMin: 8.53, MainTex_ST: [ 1, 1, 0, 0 ], Scroll1: 15, Scroll2: 8 } ],
	[ 'Flat', '2d35bcf0-e4d8-452c-97b1-3311be063130', 'cutout single', '', { Cutoff: 0.2 } ],
	[ 'FlatDeprecated', '55303bc4-c749-4a72-98d9-d23e68e76e18', 'cutout', '' ],
	[ 'Gouache', '4465b5ef-3605-bec4-2b3e-6b04508ddb6b', 'cutout', 'BumpMap MainTex', { Shininess: 0.01, SpecColor: [ 0, 0, 0 ] } ],
	[ 'Guts', '99aafe96-1645-44cd-99bd-979bc6ef37c5', 'cutout single', 'BumpMap MainTex', { Cutoff: 0.3, MainTex_ST: [ 0.15, 1, 0, 0 ], Shininess: 0.743, SpecColor: [ 0.2375, 0.2579, 0.2647 ] } ],
	[ 'Highlighter', 'cf019139-d41c-4eb0-a1d0-5cf54b0a42f3', 'add', 'MainTex', { Cutoff: 0.12 } ],
	[ 'HyperGrid', '6a1cf9f9-032c-45ec-9b6e-a6680bee32e9', 'add', 'MainTex' ],
	[ 'Hypercolor', 'dce872c2-7b49-4684-b59b-c45387949c5c', 'cutout', 'BumpMap MainTex', { Shininess: 0.5, SpecColor: [ 0.2745, 0.2745, 0.2745 ] } ],
	[ 'Icing', '2f212815-f4d3-c1a4-681a-feeaf9c6dc37', 'cutout single', 'BumpMap', { Shininess: 0.15, SpecColor: [ 0.2353, 0.2353, 0.2353 ] } ],
	[ 'Ink', 'c0012095-3ffd-4040-8ee1-fc180d346eaa', 'cutout', 'BumpMap MainTex', { Shininess: 0.4, SpecColor: [ 0.2353, 0.2353, 0.2353 ] } ],
	[ 'InkGeometry', '7c972c27-d3c2-8af4-7bf8-5d9db8f0b7bb', 'cutout single', 'BumpMap MainTex', { Shininess: 0.4, SpecColor: [ 0.2353, 0.2353, 0.2353 ] } ],
	[ 'KeijiroTube', 'f8ba3d18-01fc-4d7b-b2d9-b99d10b8e7cf', 'cutout single', '', { Shininess: 0.432, SpecColor: [ 0.7574, 0.7574, 0.7574 ] } ],
	[ 'Lacewing', '1cf94f63-f57a-4a1a-ad14-295af4f5ab5c', 'cutout single', 'BumpMap MainTex SpecTex', { Cutoff: 0.9, Shininess: 0.8, SpecColor: [ 0.1471, 0.1471, 0.1471 ] } ],
	[ 'LeakyPen', 'ddda8745-4bb5-ac54-88b6-d1480370583e', 'cutout single', 'MainTex SecondaryTex', { MainTex_ST: [ 1, 1, 0, 0 ], SecondaryTex_ST: [ 0.3, 0.5, 0, 0 ] } ],
	[ 'Leaves', 'ea19de07-d0c0-4484-9198-18489a3c1487', 'opaque', 'BumpMap MainTex', { Shininess: 0.395, SpecColor: [ 0, 0, 0 ] } ],
	[ 'Leaves2', '7259cce5-41c1-ec74-c885-78af28a31d95', 'cutout single', 'BumpMap MainTex', { Shininess: 0.395, SpecColor: [ 0, 0, 0 ] } ],
	[ 'Light', '2241cd32-8ba2-48a5-9ee7-2caef7e9ed62', 'add', 'MainTex', { EmissionGain: 0.45 } ],
	[ 'LightWire', '4391aaaa-df81-4396-9e33-31e4e4930b27', 'opaque single', 'MainTex', { Shininess: 0.81, SpecColor: [ 0.3456, 0.3456, 0.3456 ] } ],
	[ 'Lofted (Hue Shift)', 'c5da2e70-a6e4-63a4-898c-5cfedef09c97', 'opaque single', '' ],
	[ 'Lofted', 'd381e0f5-3def-4a0d-8853-31e9200bcbda', 'opaque single', '' ],
	[ 'Marbled Rainbow', 'c86c058d-1bda-2e94-08db-f3d6a96ac4a1', 'cutout single', 'BumpMap MainTex SpecTex', { Shininess: 0.8, SpecColor: [ 0.2206, 0.2206, 0.2206 ] } ],
	[ 'Marker', '429ed64a-4e97-4466-84d3-145a861ef684', 'cutout', 'MainTex', { Cutoff: 0.067 } ],
	[ 'MatteHull', '79348357-432d-4746-8e29-0e25c112e3aa', 'cutout single', '' ],
	[ 'Muscle', 'f28c395c-a57d-464b-8f0b-558c59478fa3', 'cutout single', 'BumpMap MainTex', { Cutoff: 0.3, MainTex_ST: [ 0.25, 1, 0, 0 ], Shininess: 0.57, SpecColor: [ 0.0809, 0.0809, 0.0809 ] } ],
	[ 'MylarTube', '8e58ceea-7830-49b4-aba9-6215104ab52a', 'cutout single', 'MainTex', { Shininess: 0.68, SpecColor: [ 0.75, 0.75, 0.75 ], SqueezeAmount: 0.473 } ],
	[ 'NeonPulse', 'b2ffef01-eaaa-4ab5-aa64-95a2c4f5dbc6', 'add', '' ],
	[ 'OilPaint', 'f72ec0e7-a844-4e38-82e3-140c44772699', 'cutout', 'BumpMap MainTex', { Shininess: 0.4, SpecColor: [ 0.2353, 0.2353, 0.2353 ] } ],
	[ 'Paper', '759f1ebd-20cd-4720-8d41-234e0da63716', 'cutout', 'BumpMap MainTex', { Cutoff: 0.16, Shininess: 0.145, SpecColor: [ 0, 0, 0 ] } ],
	[ 'PassthroughHull', 'cc131ff8-0d17-4677-93e0-d7cd19fea9ac', 'cutout single', '', { Shininess: 0.574, SpecColor: [ 0.2941, 0.2941, 0.2941 ] } ],
	[ 'PbrTemplate', 'f86a096c-2f4f-4f9d-ae19-81b99f2944e0', 'opaque v1', '' ],
	[ 'PbrTransparentTemplate', '19826f62-42ac-4a9e-8b77-4231fbd0cfbf', 'opaque v1', '' ],
	[ 'Petal', 'e0abbc80-0f80-e854-4970-8924a0863dcc', 'cutout', '', { Shininess: 0.01, SpecColor: [ 0, 0, 0 ] } ],
	[ 'Plasma', 'c33714d1-b2f9-412e-bd50-1884c9d46336', 'add', 'MainTex', { MainTex_ST: [ 0.5, 1, 0, 0 ] } ],
	[ 'QuillCube', 'b3e7f8c2-4d5a-1e9b-6c8f-3a7d2f1e9c4b', 'cutout', '', { A2CEnabled: 1, AlphaBias: 0, AlphaPower: 1, Cutoff: 0.067, DitherStrength: 0.5, OrderedDither: 0 } ],
	[ 'QuillCylinder', 'f1c4e3e7-2a9f-4b5d-8c3e-7d9a1f8e6b4c', 'cutout', '', { A2CEnabled: 1, AlphaBias: 0, AlphaPower: 1, Cutoff: 0.067, DitherStrength: 0.5, OrderedDither: 0 } ],
	[ 'QuillEllipse', 'a2d5f6b8-9c1e-4f3a-7b8d-2e6c9f4a1d5b', 'cutout', '', { A2CEnabled: 1, AlphaBias: 0, AlphaPower: 1, Cutoff: 0.067, DitherStrength: 0.5, OrderedDither: 0 } ],
	[ 'QuillRibbon', 'c4f8b3e2-9d1a-5e7f-4c3b-8a6d2f9e1c7b', 'cutout', '', { A2CEnabled: 1, AlphaBias: 0, AlphaPower: 1, Cutoff: 0.067, DitherStrength: 0.5, OrderedDither: 0 } ],
	[ 'Rain', '03a529e1-f519-3dd4-582d-2d5cd92c3f4f', 'add', 'MainTex', { Bulge: 2.25, MainTex_ST: [ 4, 1, 0, 0 ], NumSides: 6, Speed: 4 } ],
	[ 'Rainbow', 'ad1ad437-76e2-450d-a23a-e17f8310b960', 'add', '', { EmissionGain: 0.65 } ],
	[ 'Rising Bubbles', 'a8147ce1-005e-abe4-88e8-09a1eaadcc89', 'add', 'MainTex' ],
	[ 'ShinyHull', 'faaa4d44-fcfb-4177-96be-753ac0421ba3', 'cutout single', '', { Shininess: 0.743, SpecColor: [ 0.1985, 0.1985, 0.1985 ] } ],
	[ 'SingleSided', 'f0a2298a-be80-432c-9fee-a86dcc06f4f9', 'cutout single', 'MainTex' ],
	[ 'Slice', '12345678-1234-1234-1234-123456789abc', 'opaque', '' ],
	[ 'Smoke', '70d79cca-b159-4f35-990c-f02193947fe8', 'add', 'MainTex' ],
	[ 'SmoothHull', '355b3579-bf1d-4ff5-a200-704437fe684b', 'cutout single', '', { Shininess: 0.574, SpecColor: [ 0.2941, 0.2941, 0.2941 ] } ],
	[ 'Snow', 'd902ed8b-d0d1-476c-a8de-878a79e3a34c', 'add', 'MainTex', { ScrollDistance: [ 0, -0.3, 0 ], ScrollJitterFrequency: 12, ScrollJitterIntensity: 0.01, ScrollRate: 0.2 } ],
	[ 'SoftHighlighter', 'accb32f5-4509-454f-93f8-1df3fd31df1b', 'add', 'MainTex' ],
	[ 'Space', 'bdf65db2-1fb7-4202-b5e0-c6b5e3ea851e', 'add', '' ],
	[ 'Sparks', '50e99447-3861-05f4-697d-a1b96e771b98', 'add', 'MainTex', { DisplacementAmount: 1.45, DisplacementExponent: 2.84, EmissionGain: 0.723, MainTex_ST: [ 1, 1, 0, 0 ], NumSides: 4, Speed: 11.78, StretchDistortionExponent: 1.73 } ],
	[ 'Spikes', 'cf7f0059-7aeb-53a4-2b67-c83d863a9ffa', 'opaque single', '' ],
	[ 'Splatter', '7a1c8107-50c5-4b70-9a39-421576d6617e', 'cutout', 'MainTex', { Cutoff: 0.2 } ],
	[ 'SquarePaper', '2e03b1bf-3ebd-4609-9d7e-f4cafadc4dfa', 'cutout single', 'BumpMap MainTex', { Cutoff: 0.16, Shininess: 0.145, SpecColor: [ 0, 0, 0 ] } ],
	[ 'Stars', '0eb4db27-3f82-408d-b5a1-19ebd7d5b711', 'add', 'MainTex', { SparkleRate: 5.3 } ],
	[ 'Streamers', '44bb800a-fbc3-4592-8426-94ecb05ddec3', 'add', 'MainTex', { EmissionGain: 0.4 } ],
	[ 'SvgTemplate', 'cf3401b3-4ada-4877-995a-1aa64e7b604a', 'cutout v1', '' ],
	[ 'Taffy', '0077f88c-d93a-42f3-b59b-b31c50cdb414', 'opaque', 'MainTex' ],
	[ 'TaperedFlat', 'b468c1fb-f254-41ed-8ec9-57030bc5660c', 'cutout', 'MainTex', { Cutoff: 0.067 } ],
	[ 'TaperedHueShift', '3d9755da-56c7-7294-9b1d-5ec349975f52', 'cutout single', 'MainTex' ],
	[ 'TaperedMarker', 'd90c6ad8-af0f-4b54-b422-e0f92abe1b3c', 'opaque', 'MainTex' ],
	[ 'TaperedMarker_Flat', '1a26b8c0-8a07-4f8a-9fac-d2ef36e0cad0', 'opaque', 'MainTex' ],
	[ 'TaperedWire', '9568870f-8594-60f4-1b20-dfbc8a5eac0e', 'cutout single', 'MainTex', { Shininess: 0.1, SpecColor: [ 0.0956, 0.0956, 0.0956 ] } ],
	[ 'ThickGeometry', '39ee7377-7a9e-47a7-a0f8-0c77712f75d3', 'cutout single', 'BumpMap MainTex', { Cutoff: 0.2, Shininess: 0.414, SpecColor: [ 0.5373, 0.5373, 0.5373 ] } ],
	[ 'ThickPaint', '75b32cf0-fdd6-4d89-a64b-e2a00b247b0f', 'cutout', 'BumpMap MainTex', { Shininess: 0.4, SpecColor: [ 0.2353, 0.2353, 0.2353 ] } ],
	[ 'Toon', '4391385a-df73-4396-9e33-31e4e4930b27', 'opaque', '' ],
	[ 'TubeAdditive', 'c1c9b26d-673a-4dc6-b373-51715654ab96', 'add single', '' ],
	[ 'TubeToonInverted', '9871385a-df73-4396-9e33-31e4e4930b27', 'opaque single', '' ],
	[ 'UnlitHull', 'a8fea537-da7c-4d4b-817f-24f074725d6d', 'cutout single', '' ],
	[ 'VelvetInk', 'd229d335-c334-495a-a801-660ac8a87360', 'add', 'MainTex' ],
	[ 'Waveform', '10201aa3-ebc2-42d8-84b7-2e63f6eeb8ab', 'add', 'MainTex', { EmissionGain: 0.5179 } ],
	[ 'WaveformFFT', 'd120944d-772f-4062-99c6-46a6f219eeaf', 'add', 'MainTex' ],
	[ 'WaveformParticles', '6a1cf9f9-032c-45ec-9b6e-a6680bee30f7', 'add', 'MainTex', { TintColor: [ 0.5, 0.5, 0.5, 0.5 ] } ],
	[ 'WaveformTube', '0f5820df-cb6b-4a6c-960e-56e4c8000eda', 'add', 'MainTex', { EmissionGain: 0.5179 } ],
	[ 'WetPaint', 'b67c0e81-ce6d-40a8-aeb0-ef036b081aa3', 'cutout', 'BumpMap MainTex', { Cutoff: 0.3, Shininess: 0.85, SpecColor: [ 0.1397, 0.1397, 0.1397 ] } ],
	[ 'WigglyGraphite', '5347acf0-a8e2-47b6-8346-30c70719d763', 'cutout', 'MainTex' ],
	[ 'Wind', '7136a729-1aab-bd24-f8b2-ca88b6adfb67', 'add', 'MainTex' ],
	[ 'Wire (Lit)', '62fef968-e842-3224-4a0e-1fdb7cfb745c', 'cutout single', '', { Shininess: 0.0781, SpecColor: [ 0.5, 0.5, 0.5 ] } ],
	[ 'Wire', '4391385a-cf83-4396-9e33-31e4e4930b27', 'opaque single', '' ],
	[ 'Wireframe', '2c1a6a63-6552-4d23-86d7-58f6fba8581b', 'add', '' ],
];

/** Guids that older Tilt Brush versions wrote, mapped to the current brush's guid. */
const OLD_GUIDS = {
	'1b897b7e-9b76-425a-b031-a867c48df409': '4465b5ef-3605-bec4-2b3e-6b04508ddb6b', // Gouache
	'280c0a7a-aad8-416c-a7d2-df63d129ca70': '2d35bcf0-e4d8-452c-97b1-3311be063130', // Flat
	'4a76a27a-44d8-4bfe-9a8c-713749a499b0': 'ea19de07-d0c0-4484-9198-18489a3c1487', // Leaves
	'79168f10-6961-464a-8be1-57ed364c5600': '1161af82-50cf-47db-9706-0c3576d43c43', // CoarseBristles
	'8dc4a70c-d558-4efd-a5ed-d4e860f40dc3': '7a1c8107-50c5-4b70-9a39-421576d6617e', // Splatter
	'c515dad7-4393-4681-81ad-162ef052241b': 'f72ec0e7-a844-4e38-82e3-140c44772699', // OilPaint
	'c8ccb53d-ae13-45ef-8afb-b730d81394eb': 'b468c1fb-f254-41ed-8ec9-57030bc5660c', // TaperedFlat
	'd0262945-853c-4481-9cbd-88586bed93cb': '3ca16e2f-bdcd-4da2-8631-dcef342f40f1', // DuctTape
	'dea67637-cd1a-27e4-c9b1-52f4bbcb84e5': 'b67c0e81-ce6d-40a8-aeb0-ef036b081aa3', // WetPaint
	'e814fef1-97fd-7194-4a2f-50c2bb918be2': '5347acf0-a8e2-47b6-8346-30c70719d763', // WigglyGraphite
	'e8ef32b1-baa8-460a-9c2c-9cf8506794f5': 'dce872c2-7b49-4684-b59b-c45387949c5c', // Hypercolor
	'f1114e2e-eb8d-4fde-915a-6e653b54e9f5': '759f1ebd-20cd-4720-8d41-234e0da63716', // Paper
	'f5c336cf-5108-4b40-ade9-c687504385ab': 'c0012095-3ffd-4040-8ee1-fc180d346eaa', // Ink
	'fdf0326a-c0d1-4fed-b101-9db0ff6d071f': '75b32cf0-fdd6-4d89-a64b-e2a00b247b0f', // ThickPaint
};

/** Where Tilt Brush once hosted the brush files; gone, so never fetched. */
const DEAD_HOST = /^https?:\/\/(www\.)?tiltbrush\.com\//i;

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** Uniforms three.js sets itself on every RawShaderMaterial. */
const BUILT_IN_UNIFORMS = new Set( [ 'modelMatrix', 'modelViewMatrix', 'projectionMatrix', 'viewMatrix', 'normalMatrix', 'cameraPosition', 'isOrthographic' ] );

/**
 * Values for uniforms a brush does not set itself. The light colours are Tilt Brush's default
 * environment's (what its exports write); time is frozen at 0 so a thumbnail is reproducible.
 */
const UNIFORM_DEFAULTS = {
	SceneLight_0_color: [ 0.7780392, 0.8156863, 0.9913726, 1 ],
	SceneLight_1_color: [ 0.4282353, 0.4211765, 0.3458824, 1 ],
	ambient_light_color: [ 0.3921569, 0.3921569, 0.3921569, 1 ],
	SpecColor: [ 0.2352941, 0.2352941, 0.2352941 ],
	Shininess: 0.4,
	Cutoff: 0.5,
	EmissionGain: 0.5,
	Color: [ 1, 1, 1, 1 ],
	TintColor: [ 1, 1, 1, 1 ],
	BaseColorFactor: [ 1, 1, 1, 1 ],
	MetallicFactor: 0,
	RoughnessFactor: 0.6,
	Opacity: 1,
	Speed: 1,
	MainTex_ST: [ 1, 1, 0, 0 ],
	SecondaryTex_ST: [ 1, 1, 0, 0 ],
	fogColor: [ 0, 0, 0 ],
	fogDensity: 0,
};

/**
 * Camera-space light directions: the shaders light with mat3(u_SceneLight_N_matrix) * (0, 0, 1).
 * A key light from above left of the viewer and a fill from below right keep every stroke lit
 * from whatever angle the thumbnail is framed.
 */
const LIGHT_DIRECTIONS = [ new Vector3( - 0.35, 0.55, 0.75 ), new Vector3( 0.4, - 0.5, 0.6 ) ];

/**
 * GLSL attribute name → the geometry attributes that can feed it, best first. Tilt Brush's GLB
 * export keeps Unity's raw channels as `_TB_UNITY_*` (three lower-cases them): particle brushes
 * (Dots, Embers, Snow, Stars, Smoke, Bubbles) have no NORMAL, their particle centre is in
 * `_TB_UNITY_NORMAL` and their rotation in `_TB_UNITY_TEXCOORD_0`.z. Without the centre the
 * shader builds each quad around the origin, as large as the particle is far from it: a glow
 * that covers the sketch. A Unity channel feeds a texcoord only when it is wider than `uv`
 * (carries what `uv` lacks), so ordinary brushes keep the file's glTF texcoords.
 */
const BRUSH_ATTRIBUTES = {
	a_position: [ 'position' ],
	a_normal: [ 'normal', '_tb_unity_normal' ],
	a_color: [ 'color' ],
	a_texcoord0: [ 'uv', '_tb_unity_texcoord_0' ],
	a_texcoord1: [ 'uv1', '_tb_unity_texcoord_1' ],
	a_tangent: [ 'tangent' ],
};

const _byGuid = new Map();
const _byName = new Map();
const _state = { url: null };
const _text = new Map(); // URL → Promise<string>, shaders shared by every asset of a run
const _images = new Map(); // URL → Promise<HTMLImageElement>

for ( const [ name, guid, flags, textures, values ] of BRUSHES ) {

	const words = flags.split( ' ' );
	const brush = Object.freeze( {
		name,
		guid,
		folder: `${name}-${guid}`,
		family: words[ 0 ],
		singleSided: words.includes( 'single' ),
		version: words.includes( 'v1' ) ? 'v1.0' : 'v10.0',
		textures: textures ? textures.split( ' ' ) : [],
		values: values || {},
	} );
	_byGuid.set( guid, brush );
	_byName.set( simplify( name ), brush );

}

for ( const [ old, guid ] of Object.entries( OLD_GUIDS ) ) _byGuid.set( old, _byGuid.get( guid ) );

function simplify( name ) {

	return String( name ).toLowerCase().replace( /[^a-z0-9]/g, '' );

}

// ---------------------------------------------------------------------------------------------
// Configuration and lookup

/**
 * Set where the brush assets are served (the page config's `brushAssetsUrl`).
 *
 * @param {{url?: (string|null)}} options - Root-relative or absolute URL of the folder holding
 *   the `<Name>-<guid>/` folders, or null for none (every brush then uses the fallback).
 */
function configureBrushes( { url = null } = {} ) {

	if ( url ) {

		const base = typeof location !== 'undefined' ? location.href : 'http://localhost/';
		const absolute = new URL( url, base ).href;
		_state.url = absolute.endsWith( '/' ) ? absolute : `${absolute}/`;

	} else {

		_state.url = null;

	}

}

/**
 * The configured brush assets URL (absolute, with a trailing slash), or null.
 *
 * @return {string|null}
 */
function brushAssetsUrl() {

	return _state.url;

}

/**
 * A brush by guid (current or old), name, or material name (`brush_Ink`, `ob-Ink`,
 * `material_<guid>`, `Brush_Light-<guid>-v10.0-MainTex.png`).
 *
 * @param {string} nameOrGuid
 * @return {Object|null}
 */
function findBrush( nameOrGuid ) {

	if ( ! nameOrGuid ) return null;
	const text = String( nameOrGuid );
	const guid = text.match( GUID );
	if ( guid ) return _byGuid.get( guid[ 0 ].toLowerCase() ) || null;
	const name = text.replace( /^(brush_|ob-|material_)/i, '' ).replace( /_g\d+_b\d+$/i, '' );
	return _byName.get( simplify( name ) ) || null;

}

/**
 * The brush a (possibly dead) URI names: a tiltbrush.com shader or texture URL, or a file name
 * that carries a brush guid.
 *
 * @param {string} uri
 * @return {Object|null}
 */
function brushFromUri( uri ) {

	if ( ! uri || /^data:/i.test( uri ) ) return null;
	const path = String( uri ).split( /[?#]/ )[ 0 ];
	if ( ! DEAD_HOST.test( path ) && ! GUID.test( path.split( /[\\/]/ ).pop() ) ) return null;
	return findBrush( path.split( /[\\/]/ ).pop() ) || findBrush( path );

}

/**
 * Whether a URI is on the dead Tilt Brush host (and so must never be requested).
 *
 * @param {string} uri
 * @return {boolean}
 */
function isDeadHostUri( uri ) {

	return DEAD_HOST.test( String( uri || '' ) );

}

/**
 * URL of one of a brush's files under the brush assets, or null when none are configured.
 *
 * @param {Object} brush
 * @param {string} suffix - `vertex.glsl`, `fragment.glsl`, `MainTex.png`, ...
 * @return {string|null}
 */
function brushFileUrl( brush, suffix ) {

	if ( ! _state.url ) return null;
	const file = `${brush.folder}-${brush.version}-${suffix}`;
	return `${_state.url}${encodeURIComponent( brush.folder )}/${encodeURIComponent( file )}`;

}

/**
 * Rewrite a brush URI (dead host, or a brush texture's bare file name) to the brush assets.
 *
 * @param {string} uri
 * @return {string|null} The new URL, or null when it names no brush file or no assets are set.
 */
function rewriteBrushUri( uri ) {

	const brush = brushFromUri( uri );
	if ( ! brush ) return null;
	const match = String( uri ).split( /[?#]/ )[ 0 ].match( /-v1?0?\.0-([\w.]+)$/ );
	return match ? brushFileUrl( brush, match[ 1 ] ) : null;

}

// ---------------------------------------------------------------------------------------------
// Materials

/**
 * @typedef {Object} BrushMaterialOptions
 * @property {Object<string, *>} [values] - Uniform values from the file, by name without `u_`
 *   (glTF 1.0 material values; glTF 2.0 alphaCutoff, roughness, base colour).
 * @property {('OPAQUE'|'MASK'|'BLEND')} [alphaMode] - What the file says (glTF 2.0).
 * @property {boolean} [doubleSided]
 * @property {AbortSignal} [signal]
 */

/**
 * A brush's material: its shaders when brush assets are configured, else the fallback.
 *
 * @param {Object|null} brush - From {@link findBrush}; null uses the fallback.
 * @param {BrushMaterialOptions} [options]
 * @return {Promise<{material: import('three').Material, source: ('assets'|'fallback')}>}
 */
async function createBrushMaterial( brush, options = {} ) {

	if ( ! brush || ! _state.url ) return { material: createFallbackMaterial( brush, options ), source: 'fallback' };
	try {

		return { material: await createShaderMaterial( brush, options ), source: 'assets' };

	} catch ( error ) {

		// A brush the hosted copy lacks is drawn with the fallback, not failed.
		if ( options.signal && options.signal.aborted ) throw error;
		return { material: createFallbackMaterial( brush, options ), source: 'fallback', error };

	}

}

/**
 * The brush's own shaders, with the includes they use and every declared uniform set.
 *
 * @param {Object} brush
 * @param {BrushMaterialOptions} options
 * @return {Promise<RawShaderMaterial>}
 */
async function createShaderMaterial( brush, { values = {}, alphaMode, signal } = {} ) {

	const [ vertex, fragment ] = await Promise.all( [
		fetchText( brushFileUrl( brush, 'vertex.glsl' ), signal ),
		fetchText( brushFileUrl( brush, 'fragment.glsl' ), signal ),
	] );
	const vertexShader = stripVersion( vertex );
	const fragmentShader = await withIncludes( stripVersion( fragment ), signal );

	const uniforms = {};
	const pending = [];
	for ( const [ name, type ] of declaredUniforms( vertexShader + '\n' + fragmentShader ) ) {

		if ( BUILT_IN_UNIFORMS.has( name ) ) continue;
		const key = name.replace( /^u_/, '' );
		if ( type === 'sampler2D' ) {

			uniforms[ name ] = { value: whiteTexture() };
			const file = brush.textures.find( ( texture ) => texture.split( '.' )[ 0 ] === key );
			if ( file ) pending.push( loadBrushTexture( brush, file, signal ).then( ( texture ) => {

				uniforms[ name ].value.dispose();
				uniforms[ name ].value = texture;
				const size = uniforms[ `${name}_TexelSize` ];
				if ( size ) size.value.set( 1 / texture.image.width, 1 / texture.image.height, texture.image.width, texture.image.height );

			}, () => {

				if ( signal && signal.aborted ) throw signal.reason; // a missing brush texture draws white

			} ) );
			continue;

		}

		uniforms[ name ] = { value: uniformValue( type, key, values[ key ] ?? brush.values[ key ] ?? UNIFORM_DEFAULTS[ key ] ) };

	}

	for ( let i = 0; i < LIGHT_DIRECTIONS.length; i ++ ) {

		const uniform = uniforms[ `u_SceneLight_${i}_matrix` ];
		if ( uniform ) uniform.value = lightMatrix( LIGHT_DIRECTIONS[ i ] );

	}

	await Promise.all( pending );

	const additive = brush.family === 'add';
	const blended = additive || brush.family === 'blend' || ( alphaMode === 'BLEND' && brush.family !== 'opaque' && brush.family !== 'cutout' );
	const material = new RawShaderMaterial( {
		name: `brush_${brush.name}`,
		glslVersion: GLSL3,
		vertexShader,
		fragmentShader,
		uniforms,
		side: brush.singleSided ? FrontSide : DoubleSide,
		transparent: blended,
		depthWrite: ! blended,
		blending: additive ? AdditiveBlending : undefined,
	} );
	material.userData.brush = brush.name;
	return material;

}

/**
 * The documented approximation used without brush assets: vertex colours, the brush family's
 * blending (additive for light/emissive brushes, alpha-tested for cut-out brushes).
 *
 * @param {Object|null} brush
 * @param {BrushMaterialOptions} [options]
 * @return {import('three').Material}
 */
function createFallbackMaterial( brush, { values = {}, alphaMode, doubleSided } = {} ) {

	const family = brush ? brush.family : ( alphaMode === 'BLEND' ? 'blend' : alphaMode === 'MASK' ? 'cutout' : 'opaque' );
	const side = brush ? ( brush.singleSided ? FrontSide : DoubleSide ) : ( doubleSided === false ? FrontSide : DoubleSide );
	const name = `brush_${brush ? brush.name : 'unknown'}_fallback`;
	let material;
	if ( family === 'add' ) {

		material = new MeshBasicMaterial( { name, vertexColors: true, blending: AdditiveBlending, transparent: true, depthWrite: false, side } );

	} else {

		const cutoff = Number( values.Cutoff ?? ( brush && brush.values.Cutoff ) ?? UNIFORM_DEFAULTS.Cutoff );
		const shininess = Number( values.Shininess ?? ( brush && brush.values.Shininess ) ?? UNIFORM_DEFAULTS.Shininess );
		material = new MeshStandardMaterial( {
			name,
			vertexColors: true,
			roughness: Math.min( 1, Math.max( 0.2, 1 - shininess ) ),
			metalness: 0,
			side,
			alphaTest: family === 'cutout' ? Math.min( 0.99, Math.max( 0, cutoff ) ) : 0,
			transparent: family === 'blend',
			depthWrite: family !== 'blend',
		} );

	}

	material.userData.brush = brush ? brush.name : null;
	return material;

}

/**
 * Give a brush mesh's geometry the attribute names the brush shaders use (aliases of the same
 * buffers, so nothing is copied or uploaded twice), and a white colour when it has none.
 *
 * @param {import('three').BufferGeometry} geometry
 */
function prepareBrushGeometry( geometry ) {

	const position = geometry.getAttribute( 'position' );
	if ( ! position ) return;
	if ( ! geometry.getAttribute( 'color' ) ) geometry.setAttribute( 'color', new BufferAttribute( new Float32Array( position.count * 4 ).fill( 1 ), 4 ) );
	for ( const [ glsl, names ] of Object.entries( BRUSH_ATTRIBUTES ) ) {

		if ( geometry.getAttribute( glsl ) ) continue;
		const [ own, unity ] = names.map( ( name ) => geometry.getAttribute( name ) );
		const widerUnity = unity && ( ! own || ( glsl.startsWith( 'a_texcoord' ) && unity.itemSize > own.itemSize ) );
		const attribute = widerUnity ? unity : own;
		if ( attribute ) geometry.setAttribute( glsl, attribute );

	}

}

// ---------------------------------------------------------------------------------------------
// Helpers

function stripVersion( source ) {

	return String( source ).replace( /^\uFEFF/, '' ).replace( /^[ \t]*#version[^\n]*\n/m, '' );

}

/** Prepend the shared GLSL (fog, surface shading) a fragment shader calls. */
async function withIncludes( fragment, signal ) {

	const includes = [];
	if ( /\b(PerturbNormal|SurfaceShader\w*|ShShader\w*|LambertShader)\s*\(/.test( fragment ) ) includes.push( 'SurfaceShaderIncludes.glsl' );
	if ( /\bApplyFog\s*\(/.test( fragment ) ) includes.push( 'FogShaderIncludes.glsl' );
	const texts = await Promise.all( includes.map( ( name ) => fetchText( `${_state.url}includes/${name}`, signal ) ) );
	return [ ...texts.map( stripVersion ), fragment ].join( '\n' );

}

/** `uniform <type> <name>;` declarations, first one wins. */
function declaredUniforms( source ) {

	const found = new Map();
	const pattern = /^\s*uniform\s+(?:(?:lowp|mediump|highp)\s+)?(\w+)\s+(\w+)\s*;/gm;
	let match;
	while ( ( match = pattern.exec( source ) ) !== null ) {

		if ( ! found.has( match[ 2 ] ) ) found.set( match[ 2 ], match[ 1 ] );

	}

	return found;

}

function uniformValue( type, key, value ) {

	const list = value === undefined || value === null ? [] : ( Array.isArray( value ) ? value : [ value ] ).map( Number );
	switch ( type ) {

		case 'float': return list.length ? list[ 0 ] : 0;
		case 'int': return list.length ? Math.round( list[ 0 ] ) : 0;
		case 'bool': return list.length ? Boolean( list[ 0 ] ) : false;
		case 'vec2': return new Vector2( list[ 0 ] ?? 0, list[ 1 ] ?? 0 );
		case 'vec3': return new Vector3( list[ 0 ] ?? 0, list[ 1 ] ?? 0, list[ 2 ] ?? 0 );
		case 'vec4': return new Vector4( list[ 0 ] ?? 0, list[ 1 ] ?? 0, list[ 2 ] ?? 0, list[ 3 ] ?? ( list.length ? 1 : 0 ) );
		case 'mat3': return list.length === 9 ? new Matrix3().fromArray( list ) : new Matrix3();
		case 'mat4': return list.length === 16 ? new Matrix4().fromArray( list ) : new Matrix4();
		default: return list.length ? list[ 0 ] : 0;

	}

}

/** A rotation whose third column is `direction`: the shaders' light direction in view space. */
function lightMatrix( direction ) {

	const z = direction.clone().normalize();
	const x = new Vector3( 0, 1, 0 ).cross( z ).normalize();
	const y = z.clone().cross( x );
	return new Matrix4().makeBasis( x, y, z );

}

function whiteTexture() {

	const texture = new DataTexture( new Uint8Array( [ 255, 255, 255, 255 ] ), 1, 1 );
	texture.needsUpdate = true;
	return texture;

}

async function fetchText( url, signal ) {

	if ( ! _text.has( url ) ) {

		const request = fetch( url, { credentials: 'omit' } ).then( ( response ) => {

			if ( ! response.ok ) throw new Error( `HTTP ${response.status} fetching brush file ${decodeURIComponent( url.split( '/' ).pop() )}` );
			return response.text();

		} );
		request.catch( () => _text.delete( url ) );
		_text.set( url, request );

	}

	return abortable( _text.get( url ), signal );

}

/** A brush texture, as the brush shaders expect it (not flipped, repeating). */
async function loadBrushTexture( brush, file, signal ) {

	const [ key, extension ] = file.split( '.' );
	const url = brushFileUrl( brush, `${key}.${extension || 'png'}` );
	if ( ! _images.has( url ) ) {

		const request = new Promise( ( resolve, reject ) => {

			const image = new Image();
			image.crossOrigin = 'anonymous';
			image.onload = () => resolve( image );
			image.onerror = () => reject( new Error( `Could not load brush texture ${decodeURIComponent( url.split( '/' ).pop() )}` ) );
			image.src = url;

		} );
		request.catch( () => _images.delete( url ) );
		_images.set( url, request );

	}

	const texture = new Texture( await abortable( _images.get( url ), signal ) );
	texture.name = `${brush.name}_${key}`;
	texture.flipY = false;
	texture.wrapS = RepeatWrapping;
	texture.wrapT = RepeatWrapping;
	texture.needsUpdate = true;
	return texture;

}

export {
	BRUSHES,
	OLD_GUIDS,
	configureBrushes,
	brushAssetsUrl,
	findBrush,
	brushFromUri,
	isDeadHostUri,
	brushFileUrl,
	rewriteBrushUri,
	createBrushMaterial,
	createFallbackMaterial,
	prepareBrushGeometry,
};
