//! The wgpu side: client buffers uploaded into textures (only their damaged parts), then
//! composited with shell chrome in z-order with premultiplied alpha, into an offscreen
//! texture (headless, screenshots) or a window's surface (nested).
//!
//! Opaque draws go first, front to back, writing depth, so what they hide is never
//! shaded (the depth test rejects it early, which is most of the work on a software
//! rasterizer); translucent draws follow back to front, blended, behind the same test.
//!
//! This module knows wgpu and nothing of Wayland: the compositor hands it pixels, damage
//! and a list of `Draw`s in output coordinates.

use std::collections::HashMap;

use super::damage::{self, intersect, physical};

/// More damaged rectangles than this are drawn as their bounding box.
const MAX_SCISSOR_RECTS: usize = 8;
use super::{Draw, Fill, FrameHistory, Image, Pixels, RenderError, TextureKey};
use compose_shell_policy::Rect;

/// Which graphics APIs `GpuRenderer::with_backends` may use.
pub use wgpu::Backends;

struct SurfaceTexture {
    texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    size: (u32, u32),
    opaque: bool,
    /// Which upload filled it last (`Renderer::uploads` then).
    generation: u64,
}

/// Per-instance data of one quad (see the shader).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Instance {
    rect: [f32; 4],
    uv: [f32; 4],
    tint: [f32; 4],
    opaque: f32,
    /// Closer draws have smaller depth.
    depth: f32,
    _pad: [f32; 2],
}

const SHADER: &str = r#"
struct Instance {
    @location(0) rect: vec4<f32>,
    @location(1) uv: vec4<f32>,
    @location(2) tint: vec4<f32>,
    @location(3) opaque: f32,
    @location(4) depth: f32,
};

struct Varyings {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
    @location(1) tint: vec4<f32>,
    @location(2) opaque: f32,
};

@vertex
fn vs(@builtin(vertex_index) index: u32, instance: Instance) -> Varyings {
    let corner = vec2<f32>(f32(index & 1u), f32((index >> 1u) & 1u));
    var out: Varyings;
    out.position = vec4<f32>(mix(instance.rect.xy, instance.rect.zw, corner), instance.depth, 1.0);
    out.uv = mix(instance.uv.xy, instance.uv.zw, corner);
    out.tint = instance.tint;
    out.opaque = instance.opaque;
    return out;
}

@group(0) @binding(0) var image: texture_2d<f32>;
@group(0) @binding(1) var image_sampler: sampler;

@fragment
fn fs(in: Varyings) -> @location(0) vec4<f32> {
    var color = textureSample(image, image_sampler, in.uv);
    if (in.opaque > 0.5) {
        color.a = 1.0;
    }
    return color * in.tint;
}
"#;

/// The GPU device, one pipeline per target format, and a texture per client surface.
pub struct GpuRenderer {
    pub instance: wgpu::Instance,
    adapter: wgpu::Adapter,
    device: wgpu::Device,
    queue: wgpu::Queue,
    shader: wgpu::ShaderModule,
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    /// Per target format: the opaque pipeline (no blending, writes depth) and the
    /// translucent one (blends, tests depth only).
    pipelines: HashMap<(wgpu::TextureFormat, bool), wgpu::RenderPipeline>,
    /// The depth buffer of the last target size.
    depth: Option<((u32, u32), wgpu::TextureView)>,
    sampler: wgpu::Sampler,
    white: wgpu::BindGroup,
    textures: HashMap<TextureKey, SurfaceTexture>,
    /// Uploads so far; each texture remembers the one that filled it.
    uploads: u64,
    instances: wgpu::Buffer,
    capacity: usize,
}

impl std::fmt::Debug for GpuRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuRenderer")
            .field("adapter", &self.adapter.get_info().name)
            .field("textures", &self.textures.len())
            .finish()
    }
}

const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;

/// The format offscreen frames and screenshots use.
pub const OFFSCREEN_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

impl GpuRenderer {
    /// A renderer on the first adapter wgpu finds: Vulkan first (lavapipe when there is
    /// no GPU), then GL (llvmpipe); `WGPU_BACKEND` chooses instead.
    pub fn new() -> Result<Self, RenderError> {
        let (instance, adapter) = first_adapter()?;
        Self::with_adapter(instance, adapter)
    }

    /// A renderer on the first adapter of `backends` (e.g. only GL).
    pub fn with_backends(backends: wgpu::Backends) -> Result<Self, RenderError> {
        let instance = instance_for(backends);
        let adapter = request_adapter(&instance, None)?;
        Self::with_adapter(instance, adapter)
    }

    /// A renderer on `adapter`, one of `instance`'s.
    pub fn with_adapter(
        instance: wgpu::Instance,
        adapter: wgpu::Adapter,
    ) -> Result<Self, RenderError> {
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("compose-shells"),
            required_limits:
                wgpu::Limits::downlevel_webgl2_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| RenderError::Device(e.to_string()))?;
        // wgpu panics on errors nobody captured; a compositor logs them and goes on.
        device.on_uncaptured_error(std::sync::Arc::new(|e| {
            tracing::error!("graphics error (that frame may be wrong): {e}");
        }));
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("composite"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("surface"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("composite"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("nearest"),
            ..Default::default()
        });
        let instances = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("instances"),
            size: 64 * std::mem::size_of::<Instance>() as u64,
            usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let white = make_bind_group(&device, &layout, &sampler, &white_texture(&device, &queue));
        Ok(Self {
            instance,
            adapter,
            white,
            device,
            queue,
            shader,
            layout,
            pipeline_layout,
            pipelines: HashMap::new(),
            depth: None,
            sampler,
            textures: HashMap::new(),
            uploads: 0,
            instances,
            capacity: 64,
        })
    }

    /// The adapter in words, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
    pub fn adapter_name(&self) -> String {
        describe(&self.adapter)
    }

    pub fn adapter(&self) -> &wgpu::Adapter {
        &self.adapter
    }

    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The largest texture side the device takes.
    pub(super) fn max_side(&self) -> u32 {
        self.device.limits().max_texture_dimension_2d
    }

    /// Copies the damaged parts of `pixels` (buffer coordinates) into `key`'s texture;
    /// a new or resized texture gets the whole buffer. `Renderer::upload` checked its size.
    pub(super) fn upload(&mut self, key: TextureKey, pixels: Pixels<'_>, damage: &[Rect]) {
        let size = (pixels.width.max(1), pixels.height.max(1));
        let fresh = self.textures.get(&key).is_none_or(|t| t.size != size);
        if fresh {
            let texture = self
                .device
                .create_texture(&texture_descriptor(size.0, size.1));
            let bind_group = make_bind_group(&self.device, &self.layout, &self.sampler, &texture);
            self.textures.insert(
                key,
                SurfaceTexture {
                    texture,
                    bind_group,
                    size,
                    opaque: pixels.opaque,
                    generation: 0,
                },
            );
        }
        let target = self.textures.get_mut(&key).expect("inserted above");
        self.uploads += 1;
        target.generation = self.uploads;
        let regions = damage::upload_regions(size, damage, fresh || damage.is_empty());
        // An ARGB buffer whose every alpha is 255 is drawn as opaque: what it hides is
        // then never shaded. Partial uploads keep it opaque only if they are.
        let was_opaque = target.opaque && !(fresh || damage.is_empty());
        target.opaque = pixels.opaque
            || ((was_opaque || fresh || damage.is_empty())
                && regions.iter().all(|r| fully_opaque(&pixels, *r)));
        for r in regions {
            let offset = pixels.offset + r.y as usize * pixels.stride as usize + r.x as usize * 4;
            let rows = r.height as usize;
            let needed =
                offset + (rows.saturating_sub(1)) * pixels.stride as usize + r.width as usize * 4;
            if needed > pixels.data.len() {
                tracing::warn!("buffer damage runs past its pool; skipped");
                continue;
            }
            // Rows whose stride is not a whole number of pixels are packed first.
            let packed: Vec<u8>;
            let (data, bytes_per_row) = if pixels.stride % 4 == 0 {
                (&pixels.data[offset..needed], pixels.stride)
            } else {
                let row = r.width as usize * 4;
                packed = (0..rows)
                    .flat_map(|y| {
                        let start = offset + y * pixels.stride as usize;
                        pixels.data[start..start + row].iter().copied()
                    })
                    .collect();
                (&packed[..], row as u32)
            };
            self.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &target.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d {
                        x: r.x as u32,
                        y: r.y as u32,
                        z: 0,
                    },
                    aspect: wgpu::TextureAspect::All,
                },
                data,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(bytes_per_row),
                    rows_per_image: None,
                },
                wgpu::Extent3d {
                    width: r.width,
                    height: r.height,
                    depth_or_array_layers: 1,
                },
            );
        }
    }

    /// Drops `key`'s texture (its surface is gone).
    pub fn forget(&mut self, key: TextureKey) {
        self.textures.remove(&key);
    }

    fn pipeline(&mut self, format: wgpu::TextureFormat, opaque: bool) {
        let (device, shader, layout) = (&self.device, &self.shader, &self.pipeline_layout);
        self.pipelines.entry((format, opaque)).or_insert_with(|| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("composite"),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module: shader,
                    entry_point: Some("vs"),
                    compilation_options: Default::default(),
                    buffers: &[Some(wgpu::VertexBufferLayout {
                        array_stride: std::mem::size_of::<Instance>() as u64,
                        step_mode: wgpu::VertexStepMode::Instance,
                        attributes: &wgpu::vertex_attr_array![
                            0 => Float32x4, 1 => Float32x4, 2 => Float32x4, 3 => Float32,
                            4 => Float32
                        ],
                    })],
                },
                primitive: wgpu::PrimitiveState {
                    topology: wgpu::PrimitiveTopology::TriangleStrip,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(opaque),
                    depth_compare: Some(wgpu::CompareFunction::Less),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: shader,
                    entry_point: Some("fs"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: (!opaque).then_some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING),
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        });
    }

    fn depth_view(&mut self, size: (u32, u32)) -> wgpu::TextureView {
        if let Some((at, view)) = &self.depth {
            if *at == size {
                return view.clone();
            }
        }
        let texture = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("depth"),
            size: wgpu::Extent3d {
                width: size.0,
                height: size.1,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: DEPTH_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            view_formats: &[],
        });
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        self.depth = Some((size, view.clone()));
        view
    }

    /// Composites `draws` (back to front) onto `target` of `size` physical pixels, over
    /// `background`; `scale` maps output coordinates to physical pixels.
    pub fn render(
        &mut self,
        target: &wgpu::Texture,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
    ) -> wgpu::SubmissionIndex {
        self.render_in(target, background, scale, draws, None)
    }

    /// Like `render`, onto a target that still holds the frame `history` describes: only
    /// what changed since (items moved, added, removed, restacked or with new pixels) is
    /// drawn again, clipped to the damaged rectangles, which are returned (physical
    /// pixels; empty when nothing changed). A new size, scale or background redraws all.
    pub fn render_changed(
        &mut self,
        target: &wgpu::Texture,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
        history: &mut FrameHistory,
    ) -> Vec<Rect> {
        let size = (target.width(), target.height());
        let generations: Vec<u64> = draws
            .iter()
            .map(|d| match d.fill {
                Fill::Texture { key, .. } => self.textures.get(&key).map_or(0, |t| t.generation),
                Fill::Color(_) => 0,
            })
            .collect();
        let whole = Rect {
            x: 0,
            y: 0,
            width: size.0,
            height: size.1,
        };
        let mut damage = history.diff(size, scale, background, draws, generations);
        if damage.is_empty() {
            return damage;
        }
        // Each rectangle is a pass over every draw here: many become their bounding box.
        if damage.len() > MAX_SCISSOR_RECTS {
            damage = damage::bounding(&damage).into_iter().collect();
        }
        if damage == [whole] {
            self.render_in(target, background, scale, draws, None);
        } else {
            self.render_in(target, background, scale, draws, Some(&damage));
        }
        damage
    }

    /// Renders `draws`; with `clip`, onto what the target holds, inside `clip` only.
    fn render_in(
        &mut self,
        target: &wgpu::Texture,
        background: [f32; 4],
        scale: f32,
        draws: &[Draw],
        clip: Option<&[Rect]>,
    ) -> wgpu::SubmissionIndex {
        // A clipped frame keeps the target's pixels: the background is drawn as the
        // back-most item instead of clearing everything.
        let with_background: Vec<Draw>;
        let draws = if clip.is_some() {
            with_background = std::iter::once(Draw {
                rect: Rect {
                    x: 0,
                    y: 0,
                    width: (target.width() as f32 / scale).ceil() as u32,
                    height: (target.height() as f32 / scale).ceil() as u32,
                },
                fill: Fill::Color(background),
            })
            .chain(draws.iter().copied())
            .collect();
            &with_background[..]
        } else {
            draws
        };
        let size = (target.width() as f32, target.height() as f32);
        let count = draws.len() as f32 + 1.0;
        let visible: Vec<(Instance, Option<TextureKey>, Rect)> = draws
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let (key, uv, tint, opaque) = match d.fill {
                    Fill::Texture { key, source } => {
                        let t = self.textures.get(&key)?;
                        (Some(key), source, [1.0; 4], t.opaque)
                    }
                    Fill::Color(c) => (None, [0.0, 0.0, 1.0, 1.0], c, c[3] >= 1.0),
                };
                let x0 = d.rect.x as f32 * scale;
                let y0 = d.rect.y as f32 * scale;
                let x1 = x0 + d.rect.width as f32 * scale;
                let y1 = y0 + d.rect.height as f32 * scale;
                let ndc = |x: f32, y: f32| [x / size.0 * 2.0 - 1.0, 1.0 - y / size.1 * 2.0];
                let [a, b] = ndc(x0, y0);
                let [c, e] = ndc(x1, y1);
                Some((
                    Instance {
                        rect: [a, b, c, e],
                        uv,
                        tint,
                        opaque: if opaque { 1.0 } else { 0.0 },
                        depth: 1.0 - (i as f32 + 1.0) / count,
                        _pad: [0.0; 2],
                    },
                    key,
                    physical(d.rect, scale),
                ))
            })
            .collect();
        if visible.len() > self.capacity {
            self.capacity = visible.len().next_power_of_two();
            self.instances = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("instances"),
                size: (self.capacity * std::mem::size_of::<Instance>()) as u64,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
        }
        let data: Vec<Instance> = visible.iter().map(|(i, _, _)| *i).collect();
        if !data.is_empty() {
            self.queue
                .write_buffer(&self.instances, 0, bytemuck::cast_slice(&data));
        }
        let format = target.format();
        self.pipeline(format, true);
        self.pipeline(format, false);
        let depth = self.depth_view((target.width(), target.height()));
        let view = target.create_view(&wgpu::TextureViewDescriptor::default());
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("composite"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: match clip {
                            Some(_) => wgpu::LoadOp::Load,
                            None => wgpu::LoadOp::Clear(wgpu::Color {
                                r: background[0] as f64,
                                g: background[1] as f64,
                                b: background[2] as f64,
                                a: background[3] as f64,
                            }),
                        },
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                    view: &depth,
                    depth_ops: Some(wgpu::Operations {
                        load: wgpu::LoadOp::Clear(1.0),
                        store: wgpu::StoreOp::Discard,
                    }),
                    stencil_ops: None,
                }),
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_vertex_buffer(0, self.instances.slice(..));
            let draw = |pass: &mut wgpu::RenderPass<'_>, i: usize, key: &Option<TextureKey>| {
                let group = match key {
                    Some(k) => &self.textures[k].bind_group,
                    None => &self.white,
                };
                pass.set_bind_group(0, group, &[]);
                pass.draw(0..4, i as u32..i as u32 + 1);
            };
            let whole = [Rect {
                x: 0,
                y: 0,
                width: target.width(),
                height: target.height(),
            }];
            // Each damaged rectangle on its own (they do not overlap, so nothing blends
            // twice), skipping what lies outside it.
            for area in clip.unwrap_or(&whole) {
                pass.set_scissor_rect(area.x as u32, area.y as u32, area.width, area.height);
                let inside = |rect: &Rect| intersect(*rect, *area).is_some();
                // Opaque, front to back: hidden parts fail the depth test before shading.
                pass.set_pipeline(&self.pipelines[&(format, true)]);
                for (i, (instance, key, rect)) in visible.iter().enumerate().rev() {
                    if instance.opaque > 0.5 && inside(rect) {
                        draw(&mut pass, i, key);
                    }
                }
                // Translucent, back to front, blended over what is in front of them.
                pass.set_pipeline(&self.pipelines[&(format, false)]);
                for (i, (instance, key, rect)) in visible.iter().enumerate() {
                    if instance.opaque <= 0.5 && inside(rect) {
                        draw(&mut pass, i, key);
                    }
                }
            }
        }
        self.queue.submit([encoder.finish()])
    }

    /// An offscreen target of `width` x `height` physical pixels that can be read back.
    pub fn offscreen(&self, width: u32, height: u32) -> wgpu::Texture {
        self.offscreen_as(width, height, OFFSCREEN_FORMAT)
    }

    /// An offscreen target in `format` (a screen's byte order: `Bgra8Unorm` is XRGB8888).
    pub fn offscreen_as(
        &self,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
    ) -> wgpu::Texture {
        self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("offscreen"),
            size: wgpu::Extent3d {
                width: width.max(1),
                height: height.max(1),
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        })
    }

    /// Shows a rendered window frame.
    pub fn present(&self, frame: wgpu::SurfaceTexture) {
        self.queue.present(frame);
    }

    /// Waits for the GPU to finish everything submitted.
    pub fn wait(&self) {
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }

    /// Reads an offscreen target back as tightly packed RGBA rows.
    pub fn read(&self, target: &wgpu::Texture) -> Result<Image, RenderError> {
        let (width, height) = (target.width(), target.height());
        let mut rgba = Vec::with_capacity((width * 4 * height) as usize);
        self.read_rows(target, |_, row| rgba.extend_from_slice(row))?;
        Ok(Image {
            width,
            height,
            rgba,
        })
    }

    /// Reads an offscreen target back, handing each row (top to bottom, `width * 4` bytes
    /// in the texture's format) to `row`.
    pub fn read_rows(
        &self,
        target: &wgpu::Texture,
        mut row: impl FnMut(usize, &[u8]),
    ) -> Result<(), RenderError> {
        let (width, height) = (target.width(), target.height());
        let row_bytes = width * 4;
        let padded = row_bytes.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
            * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: padded as u64 * height as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_texture_to_buffer(
            target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(height),
                },
            },
            target.size(),
        );
        self.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = sender.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        receiver
            .recv()
            .map_err(|e| RenderError::Readback(e.to_string()))?
            .map_err(|e| RenderError::Readback(e.to_string()))?;
        {
            let view = buffer
                .get_mapped_range(..)
                .map_err(|e| RenderError::Readback(e.to_string()))?;
            for y in 0..height as usize {
                let start = y * padded as usize;
                row(y, &view[start..start + row_bytes as usize]);
            }
        }
        buffer.unmap();
        Ok(())
    }
}

/// An instance of `backends` only.
fn instance_for(backends: wgpu::Backends) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
    descriptor.backends = backends;
    wgpu::Instance::new(descriptor)
}

/// The first adapter of `instance` (one that can present to `surface`, if given).
pub fn request_adapter(
    instance: &wgpu::Instance,
    surface: Option<&wgpu::Surface<'_>>,
) -> Result<wgpu::Adapter, RenderError> {
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::default(),
        force_fallback_adapter: false,
        compatible_surface: surface,
        ..Default::default()
    }))
    .map_err(|e| RenderError::NoAdapter(e.to_string()))
}

/// The first adapter wgpu finds, Vulkan before GL (or the backends `WGPU_BACKEND` names),
/// with its instance. Nothing is opened on it yet.
pub fn first_adapter() -> Result<(wgpu::Instance, wgpu::Adapter), RenderError> {
    if std::env::var_os("WGPU_BACKEND").is_some() {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = request_adapter(&instance, None)?;
        return Ok((instance, adapter));
    }
    let mut first = None;
    for backends in [wgpu::Backends::VULKAN, wgpu::Backends::GL] {
        let instance = instance_for(backends);
        match request_adapter(&instance, None) {
            Ok(adapter) => return Ok((instance, adapter)),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.expect("two backends were tried"))
}

/// An adapter in words, e.g. "llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan)".
pub fn describe(adapter: &wgpu::Adapter) -> String {
    let info = adapter.get_info();
    format!("{} ({:?})", info.name, info.backend)
}

fn texture_descriptor(width: u32, height: u32) -> wgpu::TextureDescriptor<'static> {
    wgpu::TextureDescriptor {
        label: Some("surface"),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: wgpu::TextureFormat::Bgra8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    }
}

fn make_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    sampler: &wgpu::Sampler,
    texture: &wgpu::Texture,
) -> wgpu::BindGroup {
    let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("surface"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&view),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Sampler(sampler),
            },
        ],
    })
}

/// A 1x1 white texture: solid colours are it, tinted.
fn white_texture(device: &wgpu::Device, queue: &wgpu::Queue) -> wgpu::Texture {
    let texture = device.create_texture(&texture_descriptor(1, 1));
    queue.write_texture(
        texture.as_image_copy(),
        &[255; 4],
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(4),
            rows_per_image: None,
        },
        wgpu::Extent3d {
            width: 1,
            height: 1,
            depth_or_array_layers: 1,
        },
    );
    texture
}

/// Whether every pixel of `region` in `pixels` has alpha 255 (B G R A: every fourth byte).
fn fully_opaque(pixels: &Pixels<'_>, region: Rect) -> bool {
    (0..region.height as usize).all(|y| {
        let start = pixels.offset
            + (region.y as usize + y) * pixels.stride as usize
            + region.x as usize * 4;
        let end = start + region.width as usize * 4;
        pixels
            .data
            .get(start..end)
            .is_some_and(|row| row.iter().skip(3).step_by(4).all(|a| *a == 255))
    })
}
