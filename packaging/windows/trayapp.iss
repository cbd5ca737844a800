; Inno Setup (6.3 or newer) script of the trayapp installer for Windows (per-user: no administrator rights needed).
;
; 1. Build the bundle on Windows:  pyinstaller --noconfirm --clean --distpath dist --workpath build\pyinstaller ^
;                                      packaging\pyinstaller\trayapp.spec
;    (gives dist\trayapp\trayapp.exe and build\pyinstaller\trayapp\icons\trayapp.ico)
; 2. Compile:  iscc /DAppVersion=0.1.0 packaging\windows\trayapp.iss      →  dist\trayapp-0.1.0-setup.exe
;
; The installer adds a Start-menu entry, registers trayapp:// links (HKCU\Software\Classes\trayapp, so opening the
; connection link an admin sent starts "trayapp.exe trayapp://connect?..."), and offers "Start trayapp when I sign
; in" — the same HKCU Run value ("trayapp") that the app's own settings checkbox (trayapp/autostart.py) turns on
; and off, so the two always agree. Uninstalling removes all of it; the user's settings and history stay.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "trayapp"
#define AppExe "trayapp.exe"
#define Root "..\.."

[Setup]
AppId={{5E8685FB-29A2-5654-B06A-444359E12A22}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The trayapp authors
AppComments=Acquire case alerts on your desktop
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
DisableDirPage=auto
PrivilegesRequired=lowest
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir={#Root}\dist
OutputBaseFilename=trayapp-{#AppVersion}-setup
SetupIconFile={#Root}\build\pyinstaller\trayapp\icons\trayapp.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; A running trayapp is closed (Restart Manager) before files are replaced, and started again afterwards.
CloseApplications=yes
RestartApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "startatlogin"; Description: "Start {#AppName} when I sign in (recommended: alerts need it running)"; GroupDescription: "Options:"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Root}\dist\trayapp\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Acquire case alerts on your desktop"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; trayapp:// connection links open the app: "trayapp.exe" "trayapp://connect?url=...&token=...&key=..."
Root: HKCU; Subkey: "Software\Classes\trayapp"; ValueType: string; ValueName: ""; ValueData: "URL:trayapp connection link"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\trayapp"; ValueType: string; ValueName: "URL Protocol"; ValueData: ""
Root: HKCU; Subkey: "Software\Classes\trayapp\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"",0"
Root: HKCU; Subkey: "Software\Classes\trayapp\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; Start at login (optional task): the value trayapp/autostart.py reads and writes.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; ValueName: "trayapp"; ValueData: """{app}\{#AppExe}"""; Flags: uninsdeletevalue; Tasks: startatlogin

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{sys}\taskkill.exe"; Parameters: "/IM {#AppExe} /F"; Flags: runhidden; RunOnceId: "StopTrayapp"

[Code]
// The app's settings may have switched start-at-login on after installing (without the task): remove the Run
// value and Task Manager's StartupApproved mark in any case, so nothing points at a removed program.
procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
  begin
    RegDeleteValue(HKCU, 'Software\Microsoft\Windows\CurrentVersion\Run', 'trayapp');
    RegDeleteValue(HKCU, 'Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run', 'trayapp');
  end;
end;
