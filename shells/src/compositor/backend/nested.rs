//! The nested backend: the compositor's output is a winit window in the user's X11 or
//! Wayland session (our own desktop shell included), drawn through a wgpu surface on a
//! GPU, or by pixman into a softbuffer (shared memory the host shows) when there is no
//! GPU. Host input is forwarded as `InputEvent`s; losing focus releases held keys.

use std::sync::Arc;
use std::time::Duration;

use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, MouseButton, TouchPhase, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop, OwnedDisplayHandle};
use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
use winit::platform::scancode::PhysicalKeyExtScancode;
use winit::platform::wayland::WindowAttributesExtWayland;
use winit::platform::x11::WindowAttributesExtX11;
use winit::window::{Window, WindowId};

/// The nested window's app_id (Wayland) and WM_CLASS (X11).
const APP_ID: &str = "compose-shell";

use super::Drawn;
use crate::compositor::{CompositorError, InputEvent, State};
use crate::render::{
    Draw, Frame, FrameHistory, GpuRenderer, RenderError, Renderer, RendererChoice, request_adapter,
};

/// What the host window reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HostEvent {
    Resized(u32, u32),
    Input(InputEvent),
    Redraw,
    Close,
}

#[derive(Default)]
struct App {
    title: String,
    size: (u32, u32),
    window: Option<Arc<Window>>,
    error: Option<String>,
    events: Vec<HostEvent>,
}

fn evdev_button(button: MouseButton) -> Option<u32> {
    Some(match button {
        MouseButton::Left => 0x110,
        MouseButton::Right => 0x111,
        MouseButton::Middle => 0x112,
        MouseButton::Back => 0x116,
        MouseButton::Forward => 0x115,
        MouseButton::Other(_) => return None,
    })
}

impl ApplicationHandler for App {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        let attributes = Window::default_attributes()
            .with_title(self.title.clone())
            .with_inner_size(PhysicalSize::new(self.size.0, self.size.1));
        // The host's shell knows the window by it: app_id on Wayland, WM_CLASS on X11.
        let attributes = WindowAttributesExtWayland::with_name(attributes, APP_ID, APP_ID);
        let attributes = WindowAttributesExtX11::with_name(attributes, APP_ID, APP_ID);
        match event_loop.create_window(attributes) {
            Ok(window) => self.window = Some(Arc::new(window)),
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        let input = |e| Some(HostEvent::Input(e));
        let event = match event {
            WindowEvent::CloseRequested => Some(HostEvent::Close),
            WindowEvent::Resized(size) => Some(HostEvent::Resized(size.width, size.height)),
            WindowEvent::RedrawRequested => Some(HostEvent::Redraw),
            WindowEvent::Focused(false) => input(InputEvent::FocusLost),
            WindowEvent::KeyboardInput {
                event,
                is_synthetic: false,
                ..
            } => event.physical_key.to_scancode().and_then(|code| {
                input(InputEvent::Key {
                    code,
                    pressed: event.state == ElementState::Pressed,
                })
            }),
            WindowEvent::CursorMoved { position, .. } => input(InputEvent::PointerMotion {
                x: position.x,
                y: position.y,
            }),
            WindowEvent::MouseInput { state, button, .. } => {
                evdev_button(button).and_then(|button| {
                    input(InputEvent::PointerButton {
                        button,
                        pressed: state == ElementState::Pressed,
                    })
                })
            }
            WindowEvent::Touch(touch) => {
                let slot = touch.id as i32;
                let (x, y) = (touch.location.x, touch.location.y);
                input(match touch.phase {
                    TouchPhase::Started => InputEvent::TouchDown { slot, x, y },
                    TouchPhase::Moved => InputEvent::TouchMotion { slot, x, y },
                    TouchPhase::Ended | TouchPhase::Cancelled => InputEvent::TouchUp { slot },
                })
            }
            _ => None,
        };
        self.events.extend(event);
    }
}

/// The host window and its event loop, pumped from the compositor's loop.
pub(crate) struct Host {
    event_loop: EventLoop<()>,
    app: App,
}

impl Host {
    /// Opens a window of `width` x `height` physical pixels titled after the socket.
    pub(super) fn open(width: u32, height: u32, socket: &str) -> Result<Self, CompositorError> {
        let mut builder = EventLoop::builder();
        // The compositor may run on any thread (tests run it on one of theirs).
        winit::platform::x11::EventLoopBuilderExtX11::with_any_thread(&mut builder, true);
        winit::platform::wayland::EventLoopBuilderExtWayland::with_any_thread(&mut builder, true);
        let mut event_loop = builder
            .build()
            .map_err(|e| CompositorError::Host(e.to_string()))?;
        let mut app = App {
            title: format!("compose shell ({socket})"),
            size: (width, height),
            ..App::default()
        };
        for _ in 0..500 {
            if let PumpStatus::Exit(code) =
                event_loop.pump_app_events(Some(Duration::from_millis(10)), &mut app)
            {
                return Err(CompositorError::Host(format!(
                    "the host event loop exited ({code})"
                )));
            }
            if let Some(e) = app.error.take() {
                return Err(CompositorError::Host(e));
            }
            if app.window.is_some() {
                return Ok(Self { event_loop, app });
            }
        }
        Err(CompositorError::Host(
            "the window did not appear within 5 s".into(),
        ))
    }

    pub(super) fn window(&self) -> Arc<Window> {
        self.app
            .window
            .clone()
            .expect("open() waits for the window")
    }

    pub(super) fn display_handle(&self) -> OwnedDisplayHandle {
        self.event_loop.owned_display_handle()
    }

    /// The window's size in physical pixels.
    pub(super) fn size(&self) -> (u32, u32) {
        let size = self.window().inner_size();
        (size.width.max(1), size.height.max(1))
    }

    /// Handles what the host sent since the last call, without waiting.
    fn pump(&mut self) -> Vec<HostEvent> {
        if let PumpStatus::Exit(_) = self
            .event_loop
            .pump_app_events(Some(Duration::ZERO), &mut self.app)
        {
            self.app.events.push(HostEvent::Close);
        }
        std::mem::take(&mut self.app.events)
    }
}

/// A surface configuration for the window: a non-sRGB format (client pixels are shown as
/// they are), no vsync wait in the compositor's loop.
fn surface_config(
    renderer: &GpuRenderer,
    surface: &wgpu::Surface<'_>,
    size: (u32, u32),
) -> wgpu::SurfaceConfiguration {
    let caps = surface.get_capabilities(renderer.adapter());
    let format = caps
        .formats
        .iter()
        .copied()
        .find(|f| !f.is_srgb())
        .or_else(|| caps.formats.first().copied())
        .unwrap_or(wgpu::TextureFormat::Bgra8Unorm);
    wgpu::SurfaceConfiguration {
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
        format,
        width: size.0,
        height: size.1,
        present_mode: wgpu::PresentMode::AutoNoVsync,
        desired_maximum_frame_latency: 2,
        alpha_mode: caps
            .alpha_modes
            .first()
            .copied()
            .unwrap_or(wgpu::CompositeAlphaMode::Auto),
        view_formats: vec![],
        color_space: Default::default(),
    }
}

/// The nested backend: the host window and how frames reach it.
pub(crate) struct Nested {
    pub(crate) renderer: Renderer,
    pub(crate) why: String,
    presenter: Presenter,
    host: Box<Host>,
}

/// How frames reach the window.
enum Presenter {
    /// A wgpu surface, drawn whole each frame.
    Gpu {
        surface: wgpu::Surface<'static>,
        config: wgpu::SurfaceConfiguration,
    },
    /// pixman into a frame in memory (only what changed), copied into a softbuffer.
    Cpu {
        surface: softbuffer::Surface<OwnedDisplayHandle, Arc<Window>>,
        frame: Frame,
        history: FrameHistory,
    },
}

impl Nested {
    /// Opens a window of `physical` pixels titled after `socket`, drawn by wgpu when a GPU
    /// can present to it (or `--renderer gpu` asks, even a CPU adapter), else by pixman.
    pub(crate) fn open(
        choice: RendererChoice,
        physical: (u32, u32),
        socket: &str,
    ) -> Result<Self, CompositorError> {
        let host = Box::new(Host::open(physical.0, physical.1, socket)?);
        // The wgpu surface is made only when wgpu may draw: the adapter must present to it.
        let mut surface = None;
        let chosen = Renderer::choose_from(choice, || {
            let instance =
                wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
                    Box::new(host.display_handle()),
                ));
            let made = instance
                .create_surface(host.window())
                .map_err(|e| RenderError::NoAdapter(format!("a surface for the window: {e}")))?;
            let adapter = request_adapter(&instance, Some(&made))?;
            surface = Some(made);
            Ok((instance, adapter))
        })?;
        match (chosen.renderer, surface) {
            (Renderer::Gpu(gpu), Some(surface)) => {
                let config = surface_config(&gpu, &surface, host.size());
                surface.configure(gpu.device(), &config);
                Ok(Self {
                    renderer: Renderer::Gpu(gpu),
                    why: chosen.why,
                    presenter: Presenter::Gpu { surface, config },
                    host,
                })
            }
            (Renderer::Gpu(_), None) => unreachable!("wgpu is chosen only on a found adapter"),
            (Renderer::Cpu(_), _) => {
                let fail = |e: softbuffer::SoftBufferError| {
                    CompositorError::Host(format!("a software surface for the window: {e}"))
                };
                let context = softbuffer::Context::new(host.display_handle()).map_err(fail)?;
                let surface = softbuffer::Surface::new(&context, host.window()).map_err(fail)?;
                let renderer = Renderer::cpu();
                let size = host.size();
                let frame = renderer.screen_frame(size.0, size.1);
                let mut nested = Self {
                    renderer,
                    why: chosen.why,
                    presenter: Presenter::Cpu {
                        surface,
                        frame,
                        history: FrameHistory::default(),
                    },
                    host,
                };
                nested.resize(size);
                Ok(nested)
            }
        }
    }

    /// The window's size in physical pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        self.host.size()
    }

    /// Draws a frame and shows it in the window.
    pub(crate) fn render(&mut self, background: [f32; 4], scale: f32, draws: &[Draw]) -> Drawn {
        match &mut self.presenter {
            Presenter::Gpu { surface, config } => {
                let gpu = self
                    .renderer
                    .as_gpu_mut()
                    .expect("a wgpu surface is only drawn by the wgpu renderer");
                match surface.get_current_texture() {
                    wgpu::CurrentSurfaceTexture::Success(frame)
                    | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => {
                        gpu.render(&frame.texture, background, scale, draws);
                        gpu.present(frame);
                        Drawn::Done
                    }
                    other => {
                        tracing::debug!("surface not ready ({other:?}); reconfiguring");
                        surface.configure(gpu.device(), config);
                        Drawn::Later
                    }
                }
            }
            Presenter::Cpu {
                surface,
                frame,
                history,
            } => {
                let damage = self
                    .renderer
                    .render_changed(frame, background, scale, draws, history);
                let Frame::Cpu(canvas) = &*frame else {
                    unreachable!("the CPU renderer makes only CPU frames")
                };
                let mut buffer = match surface.buffer_mut() {
                    Ok(buffer) => buffer,
                    Err(e) => {
                        tracing::debug!("no window buffer now ({e}); drawing again later");
                        return Drawn::Later;
                    }
                };
                // A buffer that is not the last one shown gets everything; the host is
                // told only what changed when it is.
                let pixels = canvas.pixels();
                if buffer.len() == pixels.len() {
                    buffer.copy_from_slice(pixels);
                }
                let rects: Vec<softbuffer::Rect> = damage
                    .iter()
                    .filter_map(|r| {
                        Some(softbuffer::Rect {
                            x: r.x.max(0) as u32,
                            y: r.y.max(0) as u32,
                            width: std::num::NonZeroU32::new(r.width)?,
                            height: std::num::NonZeroU32::new(r.height)?,
                        })
                    })
                    .collect();
                let shown = if buffer.age() == 1 && !rects.is_empty() {
                    buffer.present_with_damage(&rects)
                } else {
                    buffer.present()
                };
                if let Err(e) = shown {
                    tracing::warn!("frame not shown in the window: {e}");
                }
                Drawn::Done
            }
        }
    }

    pub(crate) fn resize(&mut self, physical: (u32, u32)) {
        let (width, height) = (physical.0.max(1), physical.1.max(1));
        match &mut self.presenter {
            Presenter::Gpu { surface, config } => {
                config.width = width;
                config.height = height;
                if let Some(gpu) = self.renderer.as_gpu() {
                    surface.configure(gpu.device(), config);
                }
            }
            Presenter::Cpu {
                surface,
                frame,
                history,
            } => {
                let size = std::num::NonZeroU32::new(width).zip(std::num::NonZeroU32::new(height));
                if let Some((w, h)) = size
                    && let Err(e) = surface.resize(w, h)
                {
                    tracing::warn!("cannot resize the window's buffer: {e}");
                }
                if frame.size() != (width, height) {
                    *frame = self.renderer.screen_frame(width, height);
                    *history = FrameHistory::default();
                }
            }
        }
    }

    /// What the host window reported since the last call.
    pub(crate) fn pump(&mut self) -> Vec<HostEvent> {
        self.host.pump()
    }
}

impl State {
    /// Applies what the host window reported (nothing for other backends).
    pub(crate) fn pump_host(&mut self) {
        let super::Backend::Nested(nested) = &mut self.backend else {
            return;
        };
        let events = nested.pump();
        let scale = self.scale as f64;
        for event in events {
            match event {
                HostEvent::Close => self.stop = true,
                HostEvent::Resized(width, height) => self.resize((width, height)),
                HostEvent::Redraw => self.dirty = true,
                HostEvent::Input(e) => self.input(e.scaled(scale)),
            }
        }
    }
}
