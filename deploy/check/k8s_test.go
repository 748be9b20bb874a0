package check

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"jobs/internal/app"
)

// cluster is every object of deploy/k8s, by name.
type cluster struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeStrict decodes one manifest into its Kubernetes API type; an unknown or duplicate
// field, a wrong type or an unknown kind is an error.
func decodeStrict(doc []byte, into *cluster) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		return decodeAs(doc, into.deployments)
	case "v1 Service":
		return decodeAs(doc, into.services)
	case "v1 ConfigMap":
		return decodeAs(doc, into.configMaps)
	case "v1 Secret":
		return decodeAs(doc, into.secrets)
	case "policy/v1 PodDisruptionBudget":
		return decodeAs(doc, into.pdbs)
	}
	return fmt.Errorf("unexpected object %q", tm.APIVersion+" "+tm.Kind)
}

func decodeAs[T any, PT interface {
	*T
	metav1.Object
}](doc []byte, into map[string]*T) error {
	obj := PT(new(T))
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return err
	}
	if obj.GetName() == "" {
		return errors.New("no metadata.name")
	}
	into[obj.GetName()] = obj
	return nil
}

func loadCluster(t *testing.T) cluster {
	t.Helper()
	c := cluster{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}}
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "k8s", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/k8s: %v", err)
	}
	for _, file := range files {
		if filepath.Ext(file) != ".yaml" {
			t.Errorf("%s: kubectl apply -f deploy/k8s/ reads .yaml files only", file)
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			if err := decodeStrict([]byte(doc), &c); err != nil {
				t.Errorf("%s, document %d: %v", filepath.Base(file), i+1, err)
			}
		}
	}
	return c
}

func TestManifestsDecodeStrictly(t *testing.T) {
	t.Parallel()
	c := loadCluster(t)
	if t.Failed() {
		return
	}
	want := map[string][]string{"deployments": {"jobs-api", "jobs-worker"}, "services": {"jobs-api"},
		"configMaps": {"jobs-config"}, "secrets": {"jobs-secrets"}, "pdbs": {"jobs-api", "jobs-worker"}}
	got := map[string][]string{"deployments": keys(c.deployments), "services": keys(c.services),
		"configMaps": keys(c.configMaps), "secrets": keys(c.secrets), "pdbs": keys(c.pdbs)}
	for kind, names := range want {
		if !slices.Equal(got[kind], names) {
			t.Errorf("%s: got %q, want %q", kind, got[kind], names)
		}
	}
}

// The strict decoder is what catches a typo: one in a field name must fail.
func TestManifestsDecoderRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	doc := readRepoFile(t, "deploy/k8s/api-deployment.yaml")
	for _, typo := range [][2]string{
		{"terminationGracePeriodSeconds:", "terminationGracePeriodSecond:"},
		{"readinessProbe:", "readynessProbe:"},
		{"replicas: 2", "replicas: \"two\""},
	} {
		broken := bytes.Replace(doc, []byte(typo[0]), []byte(typo[1]), 1)
		if bytes.Equal(broken, doc) {
			t.Fatalf("%q not in the manifest", typo[0])
		}
		c := cluster{deployments: map[string]*appsv1.Deployment{}}
		if err := decodeStrict(broken, &c); err == nil {
			t.Errorf("%s decoded without error", typo[1])
		}
	}
}

// TestManifestsValidate runs apimachinery's validation of what the API server would check in
// metadata and selectors, and the field formats of the pod specs.
func TestManifestsValidate(t *testing.T) {
	t.Parallel()
	c := loadCluster(t)
	var errs field.ErrorList
	validateMeta := func(kind string, m metav1.ObjectMeta, nameFn apivalidation.ValidateNameFunc) {
		m.Namespace = "default" // kubectl apply fills it in
		errs = append(errs, apivalidation.ValidateObjectMeta(&m, true, nameFn, field.NewPath(kind, m.Name, "metadata"))...)
	}
	for name, d := range c.deployments {
		path := field.NewPath("Deployment", name)
		validateMeta("Deployment", d.ObjectMeta, apivalidation.NameIsDNSSubdomain)
		errs = append(errs, metav1validation.ValidateLabelSelector(d.Spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, path.Child("spec", "selector"))...)
		errs = append(errs, metav1validation.ValidateLabels(d.Spec.Template.Labels, path.Child("spec", "template", "labels"))...)
		if !selects(d.Spec.Selector, d.Spec.Template.Labels) {
			errs = append(errs, field.Invalid(path.Child("spec", "selector"), d.Spec.Selector, "does not select the template's labels"))
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas < 1 {
			errs = append(errs, field.Required(path.Child("spec", "replicas"), "at least 1"))
		}
		errs = append(errs, validatePodSpec(&d.Spec.Template.Spec, path.Child("spec", "template", "spec"))...)
	}
	for name, s := range c.services {
		validateMeta("Service", s.ObjectMeta, apivalidation.NameIsDNS1035Label)
		for i, p := range s.Spec.Ports {
			path := field.NewPath("Service", name, "spec", "ports").Index(i)
			errs = append(errs, messages(path.Child("port"), p.Port, validation.IsValidPortNum(int(p.Port)))...)
			errs = append(errs, messages(path.Child("name"), p.Name, validation.IsDNS1123Label(p.Name))...)
		}
	}
	for name, m := range c.configMaps {
		validateMeta("ConfigMap", m.ObjectMeta, apivalidation.NameIsDNSSubdomain)
		for key := range m.Data {
			errs = append(errs, messages(field.NewPath("ConfigMap", name, "data"), key, validation.IsConfigMapKey(key))...)
		}
	}
	for name, s := range c.secrets {
		validateMeta("Secret", s.ObjectMeta, apivalidation.NameIsDNSSubdomain)
		for key := range s.StringData {
			errs = append(errs, messages(field.NewPath("Secret", name, "stringData"), key, validation.IsConfigMapKey(key))...)
		}
	}
	for name, p := range c.pdbs {
		validateMeta("PodDisruptionBudget", p.ObjectMeta, apivalidation.NameIsDNSSubdomain)
		errs = append(errs, metav1validation.ValidateLabelSelector(p.Spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, field.NewPath("PodDisruptionBudget", name, "spec", "selector"))...)
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			errs = append(errs, field.Invalid(field.NewPath("PodDisruptionBudget", name, "spec"), "", "exactly one of minAvailable and maxUnavailable"))
		}
	}
	for _, err := range errs {
		t.Error(err)
	}
}

func validatePodSpec(spec *corev1.PodSpec, fp *field.Path) field.ErrorList {
	var errs field.ErrorList
	volumes := map[string]bool{}
	for i, v := range spec.Volumes {
		errs = append(errs, messages(fp.Child("volumes").Index(i).Child("name"), v.Name, validation.IsDNS1123Label(v.Name))...)
		volumes[v.Name] = true
	}
	for i, ctr := range spec.Containers {
		cpath := fp.Child("containers").Index(i)
		errs = append(errs, messages(cpath.Child("name"), ctr.Name, validation.IsDNS1123Label(ctr.Name))...)
		if ctr.Image == "" {
			errs = append(errs, field.Required(cpath.Child("image"), ""))
		}
		for j, p := range ctr.Ports {
			errs = append(errs, messages(cpath.Child("ports").Index(j).Child("containerPort"), p.ContainerPort, validation.IsValidPortNum(int(p.ContainerPort)))...)
			errs = append(errs, messages(cpath.Child("ports").Index(j).Child("name"), p.Name, validation.IsValidPortName(p.Name))...)
		}
		for j, e := range ctr.Env {
			errs = append(errs, messages(cpath.Child("env").Index(j).Child("name"), e.Name, validation.IsEnvVarName(e.Name))...)
		}
		for j, m := range ctr.VolumeMounts {
			if !volumes[m.Name] {
				errs = append(errs, field.NotFound(cpath.Child("volumeMounts").Index(j).Child("name"), m.Name))
			}
			if !path.IsAbs(m.MountPath) {
				errs = append(errs, field.Invalid(cpath.Child("volumeMounts").Index(j).Child("mountPath"), m.MountPath, "must be absolute"))
			}
		}
		for probeName, p := range map[string]*corev1.Probe{"startupProbe": ctr.StartupProbe, "livenessProbe": ctr.LivenessProbe, "readinessProbe": ctr.ReadinessProbe} {
			if p == nil {
				continue
			}
			ppath := cpath.Child(probeName)
			if p.HTTPGet == nil || !strings.HasPrefix(p.HTTPGet.Path, "/") {
				errs = append(errs, field.Invalid(ppath.Child("httpGet"), p.HTTPGet, "an HTTP GET of an absolute path"))
			} else if _, ok := containerPort(&ctr, p.HTTPGet.Port); !ok {
				errs = append(errs, field.NotFound(ppath.Child("httpGet", "port"), p.HTTPGet.Port.String()))
			}
			if p.PeriodSeconds != 0 && p.TimeoutSeconds > p.PeriodSeconds {
				errs = append(errs, field.Invalid(ppath.Child("timeoutSeconds"), p.TimeoutSeconds, "longer than periodSeconds"))
			}
		}
		for res, limit := range ctr.Resources.Limits {
			if req, ok := ctr.Resources.Requests[res]; ok && req.Cmp(limit) > 0 {
				errs = append(errs, field.Invalid(cpath.Child("resources", "requests").Key(string(res)), req.String(), "above its limit"))
			}
		}
	}
	return errs
}

// TestManifestsDeployTheService checks what issue 14 asks of them, against each other, the
// Dockerfile and the service's own config loader.
func TestManifestsDeployTheService(t *testing.T) {
	t.Parallel()
	c := loadCluster(t)
	api, worker := c.deployments["jobs-api"], c.deployments["jobs-worker"]
	if api == nil || worker == nil {
		t.Fatal("want Deployments jobs-api and jobs-worker")
	}
	image := dockerImage(t)

	// The ConfigMap carries deploy/jobs.yaml, the image's own config, and the service accepts it.
	cm := c.configMaps["jobs-config"]
	if cm == nil {
		t.Fatal("no ConfigMap jobs-config")
	}
	if got, want := cm.Data["jobs.yaml"], string(readRepoFile(t, "deploy/jobs.yaml")); got != want {
		t.Errorf("ConfigMap jobs-config's jobs.yaml differs from deploy/jobs.yaml")
	}
	cfg := serviceConfig(t, []byte(cm.Data["jobs.yaml"]), "all")

	for _, tc := range []struct {
		d    *appsv1.Deployment
		role string
	}{{api, "api"}, {worker, "worker"}} {
		name := tc.d.Name
		spec := tc.d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Errorf("%s: want one container", name)
			continue
		}
		ctr := spec.Containers[0]
		if !slices.Equal(ctr.Args, []string{"-role", tc.role}) {
			t.Errorf("%s: args %q, want -role %s", name, ctr.Args, tc.role)
		}
		if ctr.Command != nil {
			t.Errorf("%s: command replaces the image's entrypoint (and its -f)", name)
		}
		if ctr.Image != api.Spec.Template.Spec.Containers[0].Image {
			t.Errorf("%s: image %s, want the API's: one image for every role", name, ctr.Image)
		}
		// Resources: requests for the scheduler, a memory limit.
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := ctr.Resources.Requests[res]; !ok || q.IsZero() {
				t.Errorf("%s: no %s request", name, res)
			}
		}
		if _, ok := ctr.Resources.Limits[corev1.ResourceMemory]; !ok {
			t.Errorf("%s: no memory limit", name)
		}
		// Non-root, as the image's user.
		sc := spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || fmt.Sprint(*sc.RunAsUser) != image.uid {
			t.Errorf("%s: want runAsNonRoot and runAsUser %s (the image's USER)", name, image.uid)
		}
		// Config from the ConfigMap, mounted where the image's entrypoint reads it.
		var mounted bool
		for _, m := range ctr.VolumeMounts {
			for _, v := range spec.Volumes {
				if v.Name != m.Name || v.ConfigMap == nil {
					continue
				}
				if c.configMaps[v.ConfigMap.Name] == nil {
					t.Errorf("%s: volume %s: no ConfigMap %s", name, v.Name, v.ConfigMap.Name)
					continue
				}
				for _, item := range v.ConfigMap.Items {
					if _, ok := c.configMaps[v.ConfigMap.Name].Data[item.Key]; !ok {
						t.Errorf("%s: ConfigMap %s has no key %s", name, v.ConfigMap.Name, item.Key)
					}
					if path.Join(m.MountPath, item.Path) == image.configPath {
						mounted = true
					}
				}
			}
		}
		if !mounted {
			t.Errorf("%s: the ConfigMap is not mounted at %s, where the entrypoint reads the config", name, image.configPath)
		}
		// Secrets from the Secret, as the environment variables the config reads.
		envVars := configEnvVars()
		var fromSecret int
		for _, e := range ctr.EnvFrom {
			if e.SecretRef == nil {
				continue
			}
			s := c.secrets[e.SecretRef.Name]
			if s == nil {
				t.Errorf("%s: envFrom names Secret %s, which is not there", name, e.SecretRef.Name)
				continue
			}
			for key := range s.StringData {
				if !envVars[key] {
					t.Errorf("Secret %s: %s is not a variable the service reads", s.Name, key)
				}
				fromSecret++
			}
		}
		if fromSecret == 0 {
			t.Errorf("%s: no secrets from a Secret", name)
		}
		for _, e := range ctr.Env {
			if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
				if s := c.secrets[r.SecretKeyRef.Name]; s == nil || s.StringData[r.SecretKeyRef.Key] == "" {
					t.Errorf("%s: env %s names a missing Secret key", name, e.Name)
				}
			}
		}
		// The grace period outlasts the shutdown: preStop, the drain delay, the HTTP drain,
		// running jobs' grace.
		var preStop time.Duration
		if l := ctr.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
			preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
		}
		need := preStop + cfg.Shutdown.DrainDelay + app.HTTPDrain + cfg.Worker.ShutdownGrace
		if g := spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
			t.Errorf("%s: terminationGracePeriodSeconds must exceed preStop %v + Shutdown.DrainDelay %v + HTTP drain %v + Worker.ShutdownGrace %v",
				name, preStop, cfg.Shutdown.DrainDelay, app.HTTPDrain, cfg.Worker.ShutdownGrace)
		}
		// Each role's pods are covered by a disruption budget that still lets a drain proceed.
		var budgets int
		for _, p := range c.pdbs {
			if !selects(p.Spec.Selector, tc.d.Spec.Template.Labels) {
				continue
			}
			budgets++
			if p.Spec.MinAvailable != nil && p.Spec.MinAvailable.IntValue() >= int(*tc.d.Spec.Replicas) {
				t.Errorf("PodDisruptionBudget %s: minAvailable %s blocks every eviction of %s's %d pods",
					p.Name, p.Spec.MinAvailable.String(), name, *tc.d.Spec.Replicas)
			}
		}
		if budgets != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want 1", name, budgets)
		}
	}

	// The API: its port is the config's, probed on /healthz (liveness) and /readyz (readiness).
	ctr := api.Spec.Template.Spec.Containers[0]
	port, ok := containerPort(&ctr, intstr.FromString("http"))
	if !ok || port != int32(cfg.Port) {
		t.Errorf("jobs-api: container port http is %d, the config's Port %d", port, cfg.Port)
	}
	for probe, want := range map[*corev1.Probe]string{ctr.LivenessProbe: "/healthz", ctr.ReadinessProbe: "/readyz", ctr.StartupProbe: "/healthz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want {
			t.Errorf("jobs-api: want a probe on %s, got %+v", want, probe)
		}
	}
	// The Service reaches the API pods, and only them, on that port.
	svc := c.services["jobs-api"]
	if svc == nil {
		t.Fatal("no Service jobs-api")
	}
	sel := &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}
	if !selects(sel, api.Spec.Template.Labels) || selects(sel, worker.Spec.Template.Labels) {
		t.Errorf("Service jobs-api selector %v must select the API's pods and not the workers'", svc.Spec.Selector)
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := containerPort(&ctr, p.TargetPort); !ok {
			t.Errorf("Service jobs-api: targetPort %s is no port of the API container", p.TargetPort.String())
		}
	}
	// Workers listen on nothing: no HTTP probes that could never pass.
	if w := worker.Spec.Template.Spec.Containers[0]; w.LivenessProbe != nil || w.ReadinessProbe != nil || len(w.Ports) > 0 {
		t.Error("jobs-worker: a worker serves no HTTP, so it has no ports or HTTP probes")
	}
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(podLabels))
}

// containerPort resolves a probe's or Service's port (a name or a number) in ctr.
func containerPort(ctr *corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, p := range ctr.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

func messages(path *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, m := range msgs {
		errs = append(errs, field.Invalid(path, value, m))
	}
	return errs
}

func keys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for name := range m {
		k = append(k, name)
	}
	slices.Sort(k)
	return k
}
