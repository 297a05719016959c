# azd postprovision hook on Windows: runs infra/scripts/ensure-keys.sh with Git for Windows' bash, found by
# its install location, never by whichever `bash` comes first on PATH: C:\Windows\System32\bash.exe is WSL,
# which runs in Linux without your Windows `az login` and without azd's environment.
#
# Order: $env:TWOSTEP_BASH (a bash.exe you choose), then Git for Windows next to `git` on PATH, then its
# default install folders. None found: a message saying what to install, and exit 1 (azd up stops there).
$ErrorActionPreference = 'Stop'

function Find-GitBash {
    $candidates = @()
    if ($env:TWOSTEP_BASH) { $candidates += $env:TWOSTEP_BASH }
    $git = Get-Command git -ErrorAction SilentlyContinue
    if ($git) {
        # <Git>\cmd\git.exe or <Git>\bin\git.exe -> <Git>\bin\bash.exe
        $root = Split-Path (Split-Path $git.Source -Parent) -Parent
        $candidates += (Join-Path $root 'bin\bash.exe')
    }
    foreach ($base in @($env:ProgramFiles, ${env:ProgramFiles(x86)}, (Join-Path $env:LOCALAPPDATA 'Programs'))) {
        if ($base) { $candidates += (Join-Path $base 'Git\bin\bash.exe') }
    }
    foreach ($candidate in $candidates) {
        if ($candidate -and (Test-Path $candidate -PathType Leaf) -and ($candidate -notmatch '\\System32\\')) {
            return $candidate
        }
    }
    return $null
}

$bash = Find-GitBash
if (-not $bash) {
    Write-Error ("ensure-keys: Git for Windows' bash.exe was not found (looked at TWOSTEP_BASH, next to git, " +
        "and under Program Files and LocalAppData). Install Git for Windows (https://git-scm.com/download/win), " +
        "or set TWOSTEP_BASH to a bash.exe that runs on Windows, then run: azd hooks run postprovision. " +
        "WSL's bash is not used: it does not share your Windows az login.")
    exit 1
}
$script = Join-Path $PSScriptRoot 'ensure-keys.sh'
& $bash $script
exit $LASTEXITCODE
