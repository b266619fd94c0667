//! The nested backend: the compositor's output is a winit window in the user's X11 or
//! Wayland session (our own desktop shell included), drawn through a wgpu surface. Host
//! input is forwarded as `InputEvent`s; losing focus releases held keys.

use std::sync::Arc;
use std::time::Duration;

use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{ElementState, MouseButton, TouchPhase, WindowEvent};
use winit::event_loop::{ActiveEventLoop, EventLoop, OwnedDisplayHandle};
use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
use winit::platform::scancode::PhysicalKeyExtScancode;
use winit::window::{Window, WindowId};

use super::Drawn;
use crate::compositor::{CompositorError, InputEvent, State};
use crate::render::{Draw, GpuRenderer, Renderer, RendererChoice};

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

/// The nested backend: the host window, its wgpu surface, and the wgpu renderer that
/// presents to it (always a `Renderer::Gpu`).
pub(crate) struct Nested {
    pub(crate) renderer: Renderer,
    pub(crate) why: String,
    host: Box<Host>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
}

impl Nested {
    /// Opens a window of `physical` pixels titled after `socket`, and a wgpu renderer
    /// that can present to it. `--renderer cpu` cannot: it is refused.
    pub(crate) fn open(
        choice: RendererChoice,
        physical: (u32, u32),
        socket: &str,
    ) -> Result<Self, CompositorError> {
        if choice == RendererChoice::Cpu {
            return Err(CompositorError::Host(
                "a nested window presents through wgpu, and --renderer cpu asks for none; \
                 leave --renderer at auto or gpu, or run --headless WxH with the CPU renderer"
                    .into(),
            ));
        }
        let host = Host::open(physical.0, physical.1, socket)?;
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
                Box::new(host.display_handle()),
            ));
        let surface = instance
            .create_surface(host.window())
            .map_err(|e| CompositorError::Host(e.to_string()))?;
        let gpu = GpuRenderer::with_instance(instance, Some(&surface))?;
        let config = surface_config(&gpu, &surface, host.size());
        surface.configure(gpu.device(), &config);
        let why = format!(
            "a nested window presents through wgpu: {}",
            gpu.adapter_name()
        );
        Ok(Self {
            renderer: Renderer::Gpu(Box::new(gpu)),
            why,
            host: Box::new(host),
            surface,
            config,
        })
    }

    /// The window's size in physical pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        self.host.size()
    }

    fn gpu(&mut self) -> &mut GpuRenderer {
        self.renderer
            .as_gpu_mut()
            .expect("a nested window is only opened with the wgpu renderer")
    }

    /// Draws a whole frame into the window's next image and presents it.
    pub(crate) fn render(&mut self, background: [f32; 4], scale: f32, draws: &[Draw]) -> Drawn {
        match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame)
            | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => {
                let gpu = self.gpu();
                gpu.render(&frame.texture, background, scale, draws);
                gpu.present(frame);
                Drawn::Done
            }
            other => {
                tracing::debug!("surface not ready ({other:?}); reconfiguring");
                let config = self.config.clone();
                let device = self.gpu().device().clone();
                self.surface.configure(&device, &config);
                Drawn::Later
            }
        }
    }

    pub(crate) fn resize(&mut self, physical: (u32, u32)) {
        self.config.width = physical.0.max(1);
        self.config.height = physical.1.max(1);
        let config = self.config.clone();
        let device = self.gpu().device().clone();
        self.surface.configure(&device, &config);
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
