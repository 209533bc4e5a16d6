package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cipurge/cipurge/internal/worker"
)

func TestDefaults(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Redis.URL != "redis://127.0.0.1:6379/0" || c.Purge.Window != 2*time.Second || c.Purge.MaxDelay != 10*time.Second ||
		c.Purge.BatchSize != 15 || c.Purge.AllCooldown != time.Hour || c.HTTP.Addr != "127.0.0.1:8080" || !c.HTTP.UIReadOnly || !c.Purge.Confirm {
		t.Errorf("defaults: %+v", c)
	}
}

// TestErrorsNameTheVariable: every malformed value is reported with its variable and a fix.
func TestErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"PURGE_WINDOW=soon", "PURGE_WINDOW"},
		{"PURGE_WINDOW=10ms", "PURGE_WINDOW=10ms is too short"},
		{"PURGE_MAX_DELAY=1s", "PURGE_MAX_DELAY=1s is shorter than PURGE_WINDOW"},
		{"PURGE_BATCH_SIZE=16", "PURGE_BATCH_SIZE=16 is out of range: use 1 to 15"},
		{"PURGE_BATCH_SIZE=ten", "PURGE_BATCH_SIZE: "},
		{"PURGE_RATE=fast", "PURGE_RATE: "},
		{"PURGE_RATE=-1", "PURGE_RATE=-1 is negative"},
		{"PURGE_BURST=0", "PURGE_BURST=0"},
		{"PURGE_MAX_RETRY=101", "PURGE_MAX_RETRY=101"},
		{"PURGE_CONCURRENCY=0", "PURGE_CONCURRENCY=0"},
		{"PURGE_CONFIRM=maybe", "PURGE_CONFIRM: "},
		{"CLOUDIMAGE_LEGACY_V7=yes please", "CLOUDIMAGE_LEGACY_V7: "},
		{"LOG_LEVEL=loud", "LOG_LEVEL=\"loud\" is not a level"},
		{"LOG_FORMAT=xml", "LOG_FORMAT=\"xml\""},
		{"REDIS_SENTINEL_ADDRS=127.0.0.1:26379", "REDIS_SENTINEL_MASTER is empty"},
		{"REDIS_WAIT_REPLICAS=-1", "REDIS_WAIT_REPLICAS=-1 is negative"},
		{"REDIS_WAIT_TIMEOUT=0s", "REDIS_WAIT_TIMEOUT=0s is out of range"},
		{"REDIS_WAIT_TIMEOUT=5s", "REDIS_WAIT_TIMEOUT=5s is out of range: use more than 0 and less than 5s"},
		{"INTAKE_MAX_URLS=0", "INTAKE_MAX_URLS=0"},
		{"EVENTS_TOKEN=t", "EVENTS_TOKEN is set but EVENTS_BUCKETS is empty"},
		{"EVENTS_MAX_BYTES=10", "EVENTS_MAX_BYTES=10 is too small"},
	} {
		_, err := Load([]string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "parse error on field") {
			t.Errorf("%s: error names a Go field, not the variable: %v", tc.env, err)
		}
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, err := Load([]string{"PURGE_BATCH_SIZE=99", "LOG_FORMAT=xml"})
	if err == nil || !strings.Contains(err.Error(), "PURGE_BATCH_SIZE") || !strings.Contains(err.Error(), "LOG_FORMAT") {
		t.Errorf("want both problems reported at once: %v", err)
	}
}

func TestAPIChoice(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string // "" = valid
	}{
		{nil, "CLOUDIMAGE_API_KEY is empty"},
		{[]string{"CLOUDIMAGE_SANDBOX=true"}, ""},
		{[]string{"CLOUDIMAGE_API_KEY=k"}, ""},
		{[]string{"CLOUDIMAGE_API_KEY=k", "CLOUDIMAGE_SANDBOX=true"}, "both set"},
		{[]string{"CLOUDIMAGE_API_KEY=k", "CLOUDIMAGE_API_URL=http://api.example.com"}, "clear text"},
		{[]string{"CLOUDIMAGE_API_KEY=k", "CLOUDIMAGE_API_URL=http://127.0.0.1:9000"}, ""},
		{[]string{"CLOUDIMAGE_API_KEY=k", "CLOUDIMAGE_API_URL=http://localhost:9000"}, ""},
		{[]string{"CLOUDIMAGE_API_KEY=k", "CLOUDIMAGE_API_URL=ftp://api.example.com"}, "https://"},
		{[]string{"CLOUDIMAGE_SANDBOX=true", "CLOUDIMAGE_API_URL=http://api.example.com"}, ""},
	} {
		c, err := Load(tc.env)
		if err != nil {
			t.Fatal(err)
		}
		err = c.ValidateAPI()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

func TestRedisURLPasswordNotInErrors(t *testing.T) {
	c, err := Load([]string{"REDIS_URL=redis://:s3cr3t-pass@127.0.0.1:notaport/0"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RedisClient()
	if err == nil {
		t.Fatal("a bad REDIS_URL was accepted")
	}
	if strings.Contains(err.Error(), "s3cr3t-pass") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("error %q: must name REDIS_URL and not show the password", err)
	}
}

func TestRedisCAFileNeedsTLS(t *testing.T) {
	c, err := Load([]string{"REDIS_TLS_CA_FILE=/nonexistent.pem"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RedisClient(); err == nil || !strings.Contains(err.Error(), "rediss://") {
		t.Errorf("a CA file with a plain redis:// URL: %v", err)
	}
}

// TestSecretFiles: every secret setting has a NAME_FILE twin read from a file, one mechanism for all.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var secrets []string
	for _, v := range Variables() {
		if v.Secret {
			secrets = append(secrets, v.Name)
		}
	}
	for _, want := range []string{"CLOUDIMAGE_API_KEY", "UI_PASSWORD", "INTAKE_TOKEN", "REDIS_URL", "EVENTS_TOKEN"} {
		if !slices.Contains(secrets, want) {
			t.Errorf("%s is not marked secret (no %s_FILE twin)", want, want)
		}
	}
	c, err := Load([]string{"CLOUDIMAGE_API_KEY_FILE=" + write("key", "k-from-file\n"), "UI_PASSWORD_FILE=" + write("pw", "pw\r\n"),
		"INTAKE_TOKEN_FILE=" + write("tok", "tok")})
	if err != nil {
		t.Fatal(err)
	}
	if c.Cloudimage.APIKey != "k-from-file" || c.HTTP.UIPassword != "pw" || c.HTTP.IntakeToken != "tok" {
		t.Errorf("values from files: key %q, password %q, token %q", c.Cloudimage.APIKey, c.HTTP.UIPassword, c.HTTP.IntakeToken)
	}
	if c, err := Load([]string{"INTAKE_TOKEN_FILE=" + write("empty", "\n")}); err != nil || c.HTTP.IntakeToken != "" {
		t.Errorf("an empty file is an empty value: %v, %q", err, c.HTTP.IntakeToken)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"UI_PASSWORD=a", "UI_PASSWORD_FILE=" + write("pw2", "b")}, "UI_PASSWORD and UI_PASSWORD_FILE are both set"},
		{[]string{"CLOUDIMAGE_API_KEY_FILE=" + filepath.Join(dir, "missing")}, "CLOUDIMAGE_API_KEY_FILE: "},
	} {
		_, err := Load(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.env, err, tc.want)
		}
	}
}

// TestUsageListsEveryVariable: worker --help shows every variable with its default.
func TestUsageListsEveryVariable(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	for _, v := range Variables() {
		if v.Help == "" {
			t.Errorf("%s has no help text", v.Name)
		}
		line := ""
		for _, l := range strings.Split(b.String(), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == v.Name {
				line = l
			}
		}
		if line == "" || (v.Default != "" && !strings.Contains(line, v.Default)) {
			t.Errorf("%s: usage line %q, want its default %q", v.Name, line, v.Default)
		}
	}
}

// composeFile is what TestComposePassesEverySetting reads of docker-compose.yml (YAML anchors and
// merge keys resolved, as compose resolves them).
type composeFile struct {
	Services map[string]struct {
		Environment     map[string]string `yaml:"environment"`
		Secrets         []string          `yaml:"secrets"`
		StopGracePeriod string            `yaml:"stop_grace_period"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// composeFixed are the settings docker-compose.yml sets itself instead of passing them from the
// environment, and why.
var composeFixed = map[string]string{
	"HTTP_ADDR": "the container listens on every interface, on the port the file publishes on the host's loopback",
}

// composeSubst is a compose substitution of one variable: ${NAME}, ${NAME:-default}, ${NAME-default}.
var composeSubst = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}$`)

// TestComposePassesEverySetting: docker-compose.yml passes every variable from the environment or
// .env (its value is a ${NAME...} substitution of the same name), but for the few it sets itself
// (composeFixed); a secret setting only as its NAME_FILE twin, a file of /run/secrets/ that the
// service mounts from a compose secret in ./secrets/ (scripts/compose-secrets.sh writes them;
// make compose-check checks that). Every service's every entry is a known variable or twin, and
// the worker's stop_grace_period leaves PURGE_SHUTDOWN_TIMEOUT and the HTTP server's 5 s their time.
func TestComposePassesEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	vars := map[string]Var{}
	for _, v := range Variables() {
		vars[v.Name] = v
	}
	for name, svc := range c.Services {
		for key, val := range svc.Environment {
			if v, ok := vars[strings.TrimSuffix(key, FileSuffix)]; ok && v.Secret && key == v.Name+FileSuffix {
				file, ok := strings.CutPrefix(val, "/run/secrets/")
				switch {
				case !ok:
					t.Errorf("%s: %s=%q is not a file of /run/secrets/ (a compose secret)", name, key, val)
				case !slices.Contains(svc.Secrets, file):
					t.Errorf("%s: %s names /run/secrets/%s, but the service does not mount the secret %q", name, key, file, file)
				case c.Secrets[file].File != "./secrets/"+file:
					t.Errorf("%s: the compose secret %q is %q, want the file ./secrets/%s", name, file, c.Secrets[file].File, file)
				}
				continue
			}
			v, ok := vars[key]
			switch {
			case !ok:
				t.Errorf("%s: %s is not a variable of worker --help (nor a secret's %s twin)", name, key, FileSuffix)
			case v.Secret:
				t.Errorf("%s: the secret %s is an environment variable (docker inspect shows it): use %s%s and a compose secret", name, key, key, FileSuffix)
			case composeFixed[key] != "":
			default:
				if m := composeSubst.FindStringSubmatch(val); m == nil || m[1] != key {
					t.Errorf("%s: %s=%q is not passed from the environment: want ${%s:-...}", name, key, val, key)
				}
			}
		}
	}
	worker := c.Services["worker"]
	for _, v := range Variables() {
		if _, ok := worker.Environment[v.Name+FileSuffix]; v.Secret && !ok {
			t.Errorf("worker: the secret %s has no %s%s from a compose secret", v.Name, v.Name, FileSuffix)
		} else if _, ok := worker.Environment[v.Name]; !v.Secret && !ok {
			t.Errorf("worker: %s is not passed", v.Name)
		}
	}
	// SIGKILL comes stop_grace_period after SIGTERM: the defaults must fit the shutdown in it.
	def := func(val, fallback string) time.Duration {
		if m := composeSubst.FindStringSubmatch(val); m != nil {
			val = m[2]
		}
		if val == "" {
			val = fallback
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			t.Fatalf("%q: %v", val, err)
		}
		return d
	}
	grace := def(worker.StopGracePeriod, "10s") // compose's own default
	shutdown := def(worker.Environment["PURGE_SHUTDOWN_TIMEOUT"], vars["PURGE_SHUTDOWN_TIMEOUT"].Default)
	if grace < shutdown+5*time.Second+5*time.Second {
		t.Errorf("worker: stop_grace_period %s leaves too little time for PURGE_SHUTDOWN_TIMEOUT %s, the HTTP server's 5 s and 5 s to spare", grace, shutdown)
	}
}

// TestWorkerBoundsEnforcedOnce: a worker setting out of bounds is refused by worker.Config.Validate,
// and the environment's check is that same Validate, worded with the variable, its default and the fix.
// A bound changed in internal/defaults changes both, since neither writes it again.
func TestWorkerBoundsEnforcedOnce(t *testing.T) {
	for _, tc := range []struct {
		env, field string // the variable, and the worker.Config field it sets
		worker     func(*worker.Config)
		want       string // the environment's message
	}{
		{"PURGE_MAX_RETRY=101", "MaxRetry", func(c *worker.Config) { c.MaxRetry = 101 }, "PURGE_MAX_RETRY=101 is out of range: use 0 to 100 (default 10)"},
		{"PURGE_MAX_RESENDS=101", "MaxResends", func(c *worker.Config) { c.MaxResends = 101 }, "PURGE_MAX_RESENDS=101 is out of range: use 0 to 100"},
		{"PURGE_CONCURRENCY=1001", "Concurrency", func(c *worker.Config) { c.Concurrency = 1001 }, "PURGE_CONCURRENCY=1001 is out of range: use 1 to 1000"},
		{"PURGE_WINDOW=50ms", "Window", func(c *worker.Config) { c.Window = 50 * time.Millisecond }, "PURGE_WINDOW=50ms is too short: use at least 100ms (default 2s)"},
		{"PURGE_RETRY_BASE=5ms", "RetryBase", func(c *worker.Config) { c.RetryBase = 5 * time.Millisecond }, "PURGE_RETRY_BASE=5ms is too short: use at least 10ms"},
		{"PURGE_HISTORY_TTL=30s", "HistoryTTL", func(c *worker.Config) { c.HistoryTTL = 30 * time.Second }, "PURGE_HISTORY_TTL=30s is too short: use at least 1m0s"},
		{"PURGE_SHUTDOWN_TIMEOUT=500ms", "ShutdownTimeout", func(c *worker.Config) { c.ShutdownTimeout = 500 * time.Millisecond }, "PURGE_SHUTDOWN_TIMEOUT=500ms is too short"},
		{"PURGE_CONFIRM_RATE=-1", "ConfirmLimit.Rate", func(c *worker.Config) { c.ConfirmLimit.Rate = -1 }, "PURGE_CONFIRM_RATE=-1 is negative"},
		{"PURGE_BACKOFF_MAX=500ms", "BackoffMax", func(c *worker.Config) { c.BackoffMax = 500 * time.Millisecond }, "PURGE_BACKOFF_MAX=500ms is shorter than PURGE_BACKOFF_BASE=1s"},
	} {
		c := worker.Config{}.WithDefaults()
		tc.worker(&c)
		err := c.Validate()
		var se *worker.SettingError
		if !errors.As(err, &se) || se.Setting != tc.field {
			t.Errorf("%s: worker.Config.Validate = %v, want a *worker.SettingError for %s", tc.env, err, tc.field)
		}
		_, err = Load([]string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want %q", tc.env, err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "\n") > 0 {
			t.Errorf("Load(%s): %d messages, want one:\n%v", tc.env, strings.Count(err.Error(), "\n")+1, err)
		}
	}
	// A bound value is accepted by both.
	c := worker.Config{MaxRetry: 100, Concurrency: 1000, Window: 100 * time.Millisecond}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("the bounds themselves: %v", err)
	}
	if _, err := Load([]string{"PURGE_MAX_RETRY=100", "PURGE_CONCURRENCY=1000", "PURGE_WINDOW=100ms"}); err != nil {
		t.Errorf("the bounds themselves, from the environment: %v", err)
	}
}

// TestWebhookSettings: the webhook settings are checked at start. Each error names the
// variable and the fix, never the secret. A default callback without a secret is refused.
// WEBHOOK_SECRET_FILE reads the secret from a file.
func TestWebhookSettings(t *testing.T) {
	const good = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"WEBHOOK_SECRET=not-a-secret-x1"}, "WEBHOOK_SECRET: the webhook secret does not start with whsec_: set it to whsec_"},
		{[]string{"WEBHOOK_URL=https://hooks.example.com/c"}, "WEBHOOK_URL is set but WEBHOOK_SECRET is empty: "},
		{[]string{"WEBHOOK_URL=http://hooks.example.com/c", "WEBHOOK_SECRET=" + good}, "WEBHOOK_URL: the callback URL \"http://hooks.example.com/c\" is plain http: use https"},
		{[]string{"WEBHOOK_CONCURRENCY=0"}, "WEBHOOK_CONCURRENCY=0 is out of range"},
	} {
		_, err := Load(c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.env, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "not-a-secret-x1") || strings.Contains(err.Error(), good)) {
			t.Errorf("%q: the error shows the secret: %v", c.env, err)
		}
	}
	file := filepath.Join(t.TempDir(), "webhook_secret")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load([]string{"WEBHOOK_URL=https://hooks.example.com/c", "WEBHOOK_SECRET_FILE=" + file})
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Worker().Webhook; w.Secret != good || w.URL != "https://hooks.example.com/c" || w.Concurrency != 4 {
		t.Errorf("the worker's webhook settings: %v", w)
	}
}

// TestFieldNamesUnique: explain finds a variable by its Go field's name, so two sections must not
// share one. A malformed WEBHOOK_CONCURRENCY once read as PURGE_CONCURRENCY's.
func TestFieldNamesUnique(t *testing.T) {
	seen := map[string]string{}
	envFields(reflect.ValueOf(Default()), func(f reflect.StructField, _ reflect.Value, name string) {
		if other, ok := seen[f.Name]; ok {
			t.Errorf("the field %s reads %s and %s: rename one", f.Name, other, name)
		}
		seen[f.Name] = name
	})
	_, err := Load([]string{"WEBHOOK_CONCURRENCY=2x", "PURGE_CONCURRENCY=3x"})
	if err == nil || !strings.Contains(err.Error(), "WEBHOOK_CONCURRENCY: not a whole number") ||
		!strings.Contains(err.Error(), "PURGE_CONCURRENCY: not a whole number") {
		t.Errorf("two malformed numbers: %v, want both variables named", err)
	}
}
