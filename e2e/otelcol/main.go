// otelcol-ferrolb: the OpenTelemetry Collector of the e2e rig (e2e/tests/otel.rs), built by
// e2e/build-upstream.sh from the Collector's Go modules at OTELCOL_VERSION (e2e/versions.env).
//
// Components: the core OTLP receiver, and "jsonfile", an exporter of a few lines written here
// that appends every batch of traces it receives to a file as one OTLP/JSON line
// (ptrace.JSONMarshaler, the OTLP JSON encoding), so the test reads the spans with a JSON
// parser. The contrib file exporter does the same but is not served at the core release pinned
// here (keep all collector modules at one release), and the debug exporter's text is not meant
// to be parsed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/service/telemetry/otelconftelemetry"
)

// version is set with -ldflags "-X main.version=..." (the pinned collector release).
var version = "dev"

// jsonFileConfig is the "jsonfile" exporter's configuration.
type jsonFileConfig struct {
	// Path of the file the batches are appended to (created if missing).
	Path string `mapstructure:"path"`
}

// Validate refuses an empty path.
func (c *jsonFileConfig) Validate() error {
	if c.Path == "" {
		return errors.New("jsonfile: path is required")
	}
	return nil
}

// jsonFileExporter appends one OTLP/JSON line per batch.
type jsonFileExporter struct {
	path string
	mu   sync.Mutex
	file *os.File
}

func (e *jsonFileExporter) Start(_ context.Context, _ component.Host) error {
	f, err := os.OpenFile(e.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("jsonfile: %w", err)
	}
	e.file = f
	return nil
}

func (e *jsonFileExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file == nil {
		return nil
	}
	err := e.file.Close()
	e.file = nil
	return err
}

func (e *jsonFileExporter) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (e *jsonFileExporter) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	line, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.file == nil {
		return errors.New("jsonfile: not started")
	}
	_, err = e.file.Write(append(line, '\n'))
	return err
}

func newJSONFileFactory() exporter.Factory {
	return exporter.NewFactory(
		component.MustNewType("jsonfile"),
		func() component.Config { return &jsonFileConfig{} },
		exporter.WithTraces(func(_ context.Context, _ exporter.Settings, cfg component.Config) (exporter.Traces, error) {
			return &jsonFileExporter{path: cfg.(*jsonFileConfig).Path}, nil
		}, component.StabilityLevelDevelopment),
	)
}

func components() (otelcol.Factories, error) {
	receivers, err := otelcol.MakeFactoryMap(otlpreceiver.NewFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	exporters, err := otelcol.MakeFactoryMap(newJSONFileFactory())
	if err != nil {
		return otelcol.Factories{}, err
	}
	return otelcol.Factories{
		Receivers: receivers,
		Exporters: exporters,
		Telemetry: otelconftelemetry.NewFactory(),
	}, nil
}

func main() {
	settings := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{
			Command:     "otelcol-ferrolb",
			Description: "OpenTelemetry Collector of the ferrolb e2e rig (OTLP receiver, OTLP/JSON file exporter)",
			Version:     version,
		},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
				// Required, and must be a provider's scheme: ${...} in the test's
				// configuration (there is none) would name files.
				DefaultScheme: "file",
			},
		},
	}
	if err := otelcol.NewCommand(settings).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
